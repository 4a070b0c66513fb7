import Foundation
import LBStore
import Logging
import NIOCore

/// Everything `lbserver` needs to start: defaults, then the config file, then flags. The initial
/// values are the settings' defaults; `Settings` says which flag and key set each.
struct ServerConfiguration: Sendable {
    /// The cores this process may use, read once: NIO reads the cgroup's quota and cpuset files on
    /// every call, and each flag's help builds a `ServerConfiguration()` for its default, so one
    /// `lbserver` start opened them 9 120 times while parsing its flags.
    private static let coreCount = System.coreCount

    var listen = HostAndPort(host: "127.0.0.1", port: 8080)
    /// Backends declared on the command line; merged into the registry, never duplicated.
    var backends: [BackendURL] = []
    var databasePath = "lb.sqlite3"
    /// This daemon's name among those that share the database; nil: the host name.
    var instance: String?
    /// With a PostgreSQL database: the local file this daemon records into first; nil: the default.
    var outboxPath: String?
    var threads = ServerConfiguration.coreCount
    var proxy = ProxySettings()
    var health = HealthSettings()
    var outlier = OutlierSettings()
    var balancing = BalancingSettings()
    /// How long a SIGTERM waits for in-flight requests before closing what is left.
    var gracePeriod: TimeAmount = .seconds(10)
    /// How often the database is polled for changes made by `lbctl`.
    var registryPollInterval: TimeAmount = .milliseconds(250)
    var logLevel = Logger.Level.info
    var logFormat = LogFormat.keyValue
    /// Where the access log goes: a file path, `-` for standard output, nil for none.
    var accessLog: String?
    /// Benchmark only: events are counted and thrown away instead of being written.
    var discardEvents = false
    /// TLS on the traffic listener; off without certificates.
    var tls = TLSSettings()
    /// TLS to `https://` backends.
    var backendTLS = BackendTLSSettings()
    /// The admin listener (`/status`); off unless given.
    var admin: HostAndPort?
    /// The control socket's path (`lbserver --replace`, `lbserver reload`); nil: the default.
    var controlSocket: String?
    /// Restored state older than this is not routed on; a check round decides first.
    var stateMaxAge: TimeAmount = .minutes(10)
    /// Weight and admin state the configuration file declares per backend URL (flags declare none).
    var backendDeclarations: [String: (weight: Int?, adminState: AdminState?)] = [:]
    /// Backup marks and per-backend limits the configuration file declares, by URL.
    var backendOptions: [String: BackendOptions] = [:]

    /// The defaults, with the database a non-empty `LB_DB` names: where the file and flags start.
    static func defaults(environment: [String: String] = ProcessInfo.processInfo.environment) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let database = environment["LB_DB"], !database.isEmpty { configuration.databasePath = database }
        return configuration
    }

    /// The name this daemon records under: `--instance`, else the host name.
    var instanceName: String { instance ?? InstanceName.hostDefault }

    /// The outbox's file: `--outbox`, else `lb-outbox-INSTANCE.sqlite3` in the working directory.
    var outboxFile: String { outboxPath ?? "lb-outbox-\(instanceName).sqlite3" }

    /// The control socket: `control_socket`, else beside the local database file (the SQLite
    /// database, or with PostgreSQL the outbox, which is the instance's own), so that a daemon
    /// started with the same settings finds the one running; with SQLite and `--instance`, the
    /// instance's name is part of it, as several may share one file.
    var controlSocketPath: String {
        if let controlSocket { return controlSocket }
        guard case .file(let path)? = try? StoreLocation(parsing: databasePath) else { return outboxFile + ".control" }
        return instance.map { "\(path).\($0).control" } ?? path + ".control"
    }

    /// The host of the traffic listener.
    var listenHost: String { listen.host }
    /// The port of the traffic listener (0: the OS chooses).
    var listenPort: Int { listen.port }

    /// The declared backends as the registry's reconciliation takes them.
    var declaredBackends: [DeclaredBackend] {
        backends.map { url in
            DeclaredBackend(url: url.text, weight: backendDeclarations[url.text]?.weight,
                            adminState: backendDeclarations[url.text]?.adminState,
                            settings: backendOptions[url.text]?.declaredSettings ?? [:])
        }
    }
}
