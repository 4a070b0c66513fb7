import ArgumentParser
import NIOCore

/// `lbserver`'s flags for forwarding: retries, backend timeouts, the replay buffer and upgrades.
struct ProxyOptions: ParsableArguments {
    @Option(Settings.retries) var retries: Int?
    @Option(Settings.retryDelay) var retryDelay: TimeAmount?
    @Option(Settings.attempts) var attempts: Int?
    @Option(Settings.connectTimeout) var connectTimeout: TimeAmount?
    @Option(Settings.responseTimeout) var responseTimeout: TimeAmount?
    @Option(Settings.replayBuffer) var replayBuffer: Int?
    @Option(Settings.upstreamIdleConnections) var upstreamIdleConnections: Int?
    @Option(Settings.tunnelIdleTimeout) var tunnelIdleTimeout: TimeAmount?
    @Option(Settings.upgradeProtocols) var upgradeProtocols: [String]?

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.retries.apply(retries, to: &configuration)
        Settings.retryDelay.apply(retryDelay, to: &configuration)
        Settings.attempts.apply(attempts, to: &configuration)
        Settings.connectTimeout.apply(connectTimeout, to: &configuration)
        Settings.responseTimeout.apply(responseTimeout, to: &configuration)
        Settings.replayBuffer.apply(replayBuffer, to: &configuration)
        Settings.upstreamIdleConnections.apply(upstreamIdleConnections, to: &configuration)
        Settings.tunnelIdleTimeout.apply(tunnelIdleTimeout, to: &configuration)
        Settings.upgradeProtocols.apply(upgradeProtocols, to: &configuration)
    }
}
