import LBStore
import NIOCore

/// Everything `lbserver` needs to start: defaults, then the config file, then flags.
struct ServerConfiguration: Sendable {
    var listenHost = "127.0.0.1"
    var listenPort = 8080
    /// Backends declared on the command line; merged into the registry, never duplicated.
    var backends: [BackendURL] = []
    var databasePath = "lb.sqlite3"
    var threads = System.coreCount
    var proxy = ProxySettings()
    var health = HealthSettings()
    var balancing = BalancingSettings()
    /// How long a SIGTERM waits for in-flight requests before closing what is left.
    var gracePeriod: TimeAmount = .seconds(10)
    /// How often the database is polled for changes made by `lbctl`.
    var registryPollInterval: TimeAmount = .milliseconds(250)
    var logLevel = "info"
}

/// Why `lbserver` could not start; printed as one line, exit status 1.
struct StartupError: Error, CustomStringConvertible {
    let description: String
}
