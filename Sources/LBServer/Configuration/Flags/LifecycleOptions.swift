import ArgumentParser
import NIOCore

/// `lbserver`'s flags for starting and stopping: how far restored state is trusted, and how long
/// a stop waits for requests in flight, and `--replace`, which is an action rather than a setting.
struct LifecycleOptions: ParsableArguments {
    @Option(Settings.stateMaxAge) var stateMaxAge: TimeAmount?
    @Option(Settings.gracePeriod) var gracePeriod: TimeAmount?
    @Flag(help: ArgumentHelp(
        "Take over from the lbserver running on this database (found on its control socket): its listening "
            + "sockets are handed over with their queued connections, it drains once this one serves; "
            + "starts as usual when none runs"))
    var replace = false

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.stateMaxAge.apply(stateMaxAge, to: &configuration)
        Settings.gracePeriod.apply(gracePeriod, to: &configuration)
    }
}
