import ArgumentParser
import NIOCore

/// `lbserver`'s flags for starting and stopping: how far restored state is trusted, and how long
/// a stop waits for requests in flight.
struct LifecycleOptions: ParsableArguments {
    @Option(Settings.stateMaxAge) var stateMaxAge: TimeAmount?
    @Option(Settings.gracePeriod) var gracePeriod: TimeAmount?

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.stateMaxAge.apply(stateMaxAge, to: &configuration)
        Settings.gracePeriod.apply(gracePeriod, to: &configuration)
    }
}
