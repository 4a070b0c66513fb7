import ArgumentParser
import NIOCore

/// `lbserver`'s flags for the traffic and admin listeners and the limits put on clients.
struct ListenerOptions: ParsableArguments {
    @Option(Settings.listen) var listen: HostAndPort?
    @Option(Settings.port) var port: Int?
    @Option(Settings.admin) var admin: OffOr<HostAndPort>?
    @Option(Settings.threads) var threads: Int?
    @Option(Settings.maxConnections) var maxConnections: Int?
    @Option(Settings.maxRequestLine) var maxRequestLine: Int?
    @Option(Settings.maxHeaderBytes) var maxHeaderBytes: Int?
    @Option(Settings.maxHeaders) var maxHeaders: Int?
    @Option(Settings.headerTimeout) var headerTimeout: TimeAmount?
    @Option(Settings.idleTimeout) var idleTimeout: TimeAmount?
    @Option(Settings.bodyTimeout) var bodyTimeout: TimeAmount?

    /// Puts the flags given into `configuration`; `--port` after `--listen`, whatever their order.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.listen.apply(listen, to: &configuration)
        Settings.port.apply(port, to: &configuration)
        Settings.admin.apply(admin, to: &configuration)
        Settings.threads.apply(threads, to: &configuration)
        Settings.maxConnections.apply(maxConnections, to: &configuration)
        Settings.maxRequestLine.apply(maxRequestLine, to: &configuration)
        Settings.maxHeaderBytes.apply(maxHeaderBytes, to: &configuration)
        Settings.maxHeaders.apply(maxHeaders, to: &configuration)
        Settings.headerTimeout.apply(headerTimeout, to: &configuration)
        Settings.idleTimeout.apply(idleTimeout, to: &configuration)
        Settings.bodyTimeout.apply(bodyTimeout, to: &configuration)
    }
}
