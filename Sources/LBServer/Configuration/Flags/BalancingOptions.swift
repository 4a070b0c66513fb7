import ArgumentParser
import LBStore
import NIOCore

/// `lbserver`'s flags for the backends declared and how requests are spread over them.
struct BalancingOptions: ParsableArguments {
    @Option(Settings.backends) var backends: [BackendURL]?
    @Option(Settings.algorithm) var algorithm: BalancingAlgorithm?
    @Option(Settings.hashKey) var hashKey: HashKey?
    @Option(Settings.slowStart) var slowStart: TimeAmount?

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.backends.apply(backends, to: &configuration)
        Settings.algorithm.apply(algorithm, to: &configuration)
        Settings.hashKey.apply(hashKey, to: &configuration)
        Settings.slowStart.apply(slowStart, to: &configuration)
    }
}
