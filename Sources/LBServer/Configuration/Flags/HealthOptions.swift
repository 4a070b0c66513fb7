import ArgumentParser
import NIOCore

/// `lbserver`'s flags for active health checks.
struct HealthOptions: ParsableArguments {
    @Option(Settings.healthInterval) var healthInterval: TimeAmount?
    @Option(Settings.healthDownInterval) var healthDownInterval: TimeAmount?
    @Option(Settings.healthTimeout) var healthTimeout: TimeAmount?
    @Option(Settings.healthPath) var healthPath: HealthSettings.Probe?
    @Option(Settings.rise) var rise: Int?
    @Option(Settings.fall) var fall: Int?

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.healthInterval.apply(healthInterval, to: &configuration)
        Settings.healthDownInterval.apply(healthDownInterval, to: &configuration)
        Settings.healthTimeout.apply(healthTimeout, to: &configuration)
        Settings.healthPath.apply(healthPath, to: &configuration)
        Settings.rise.apply(rise, to: &configuration)
        Settings.fall.apply(fall, to: &configuration)
    }
}
