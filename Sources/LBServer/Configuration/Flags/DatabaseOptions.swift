import ArgumentParser
import NIOCore

/// `lbserver`'s flags for the database: where it is, the name this daemon records under, and the
/// benchmark's switch that leaves events unwritten.
struct DatabaseOptions: ParsableArguments {
    @Option(Settings.database) var db: String?
    @Option(Settings.instance) var instance: String?
    @Option(Settings.outbox) var outbox: String?
    @Option(Settings.controlSocket) var controlSocket: String?
    @Option(Settings.registryPollInterval) var registryPollInterval: TimeAmount?
    @Flag(name: Settings.discardEvents.flagName, help: Settings.discardEvents.flagHelp) var discardEvents = false

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.database.apply(db, to: &configuration)
        Settings.instance.apply(instance, to: &configuration)
        Settings.outbox.apply(outbox, to: &configuration)
        Settings.controlSocket.apply(controlSocket, to: &configuration)
        Settings.registryPollInterval.apply(registryPollInterval, to: &configuration)
        if discardEvents { Settings.discardEvents.apply(true, to: &configuration) }
    }
}
