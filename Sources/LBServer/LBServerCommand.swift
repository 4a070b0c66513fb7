import ArgumentParser
import Foundation
import LBStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `lbserver`: the daemon (`serve`, the default) and a stand-in backend (`respond`).
public struct LBServerMain: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lbserver",
        abstract: "HTTP/1.1 load balancer whose registry, health history and event log live in SQLite.",
        subcommands: [LBServerCommand.self, RespondCommand.self],
        defaultSubcommand: LBServerCommand.self)

    public init() {}
}

/// `lbserver [serve]`: parses flags, builds the daemon and runs it until SIGTERM or SIGINT.
struct LBServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the load balancer (the default command).")

    @Option(help: "YAML config file; flags override what it says.")
    var config: String?

    @Option(help: "Validate this config file, print what it sets, and exit.")
    var checkConfig: String?

    @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:8080).")
    var listen: String?

    @Option(help: "Admin listener HOST:PORT serving / (status page), /status (JSON) and /metrics (Prometheus); off by default, keep it on loopback.")
    var admin: String?

    @Option(help: "Port to listen on (shorthand for --listen 127.0.0.1:PORT).")
    var port: Int?

    @Option(help: "Comma-separated backend URLs, merged into the registry (e.g. http://127.0.0.1:9001,http://127.0.0.1:9002).")
    var backends: String?

    @Option(help: "Database file, created if missing (default: $LB_DB or lb.sqlite3).")
    var db: String?

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Time between health checks of a backend that is up (default 20s).")
    var healthInterval: String?

    @Option(help: "Time between health checks of a backend that is down (default 2s).")
    var healthDownInterval: String?

    @Option(help: "Health check timeout (default 2s).")
    var healthTimeout: String?

    @Option(help: "Check health with GET PATH expecting 2xx instead of a TCP connect.")
    var healthPath: String?

    @Option(help: "Consecutive passing checks that bring a down backend up (default 1).")
    var rise: Int?

    @Option(help: "Consecutive failing checks that take an up backend down (default 1).")
    var fall: Int?

    @Option(help: "Retries of the same backend after a transport failure (default 3).")
    var retries: Int?

    @Option(help: "Pause before each retry of the same backend (default 10ms).")
    var retryDelay: String?

    @Option(help: "Distinct backends tried for one request (default 3).")
    var attempts: Int?

    @Option(help: "Timeout for connecting to a backend (default 2s).")
    var connectTimeout: String?

    @Option(help: "Timeout for a backend's response head (default 60s).")
    var responseTimeout: String?

    @Option(help: "Request bodies up to this many bytes are kept so the request can be retried (default 65536).")
    var replayBuffer: Int?

    @Option(help: "Client connections open at once; more are closed as they arrive (default 10000).")
    var maxConnections: Int?

    @Option(help: "Longest request target in bytes; longer gets 414 (default 8192).")
    var maxRequestLine: Int?

    @Option(help: "Largest request header block in bytes; larger gets 431 (default 32768).")
    var maxHeaderBytes: Int?

    @Option(help: "Most request header fields; more gets 431 (default 100).")
    var maxHeaders: Int?

    @Option(help: "Time a client has to send a complete request head; slower gets 408 (default 10s).")
    var headerTimeout: String?

    @Option(help: "A client connection idle this long is closed (default 75s).")
    var idleTimeout: String?

    @Option(help: "Longest pause while a client sends a request body; longer gets 408, or a close once the answer began (default 60s).")
    var bodyTimeout: String?

    @Option(help: "An upgraded connection (WebSocket tunnel) idle this long is closed (default 1h).")
    var tunnelIdleTimeout: String?

    @Option(help: "Comma-separated protocols a client may upgrade to through the proxy, or none (default websocket; h2c never).")
    var upgradeProtocols: String?

    @Option(help: "Restored health older than this is not trusted: every backend is checked before accepting (default 10m).")
    var stateMaxAge: String?

    @Option(help: "On SIGTERM, how long in-flight requests may take to finish (default 10s).")
    var gracePeriod: String?

    @Option(help: "Balancing algorithm: round-robin (default), weighted, least-connections, p2c or hash.")
    var algorithm: String?

    @Option(help: "What --algorithm hash hashes: client-address (default), header:NAME or cookie:NAME.")
    var hashKey: String?

    @Option(help: "Time a backend that came back up takes to ramp up to its full weight (default 0: off).")
    var slowStart: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?

    @Option(help: "Log line format: keyvalue (default; ts=… level=… msg=\"…\" key=value) or json (one object per line).")
    var logFormat: String?

    @Option(help: "Write one line per request to FILE (appended), or to standard output with -; off by default.")
    var accessLog: String?

    @Flag(help: ArgumentHelp("benchmark only: events are counted and thrown away instead of being written",
                             visibility: .hidden))
    var discardEvents = false

    mutating func run() async throws {
        if let checkConfig {
            var configuration = ServerConfiguration()
            do {
                try ConfigFile.load(path: checkConfig, into: &configuration)
            } catch {
                FileHandle.standardError.write(Data("lbserver: \(error.description)\n".utf8))
                throw ExitCode(65)
            }
            print("\(checkConfig): ok (listen \(configuration.listenHost):\(configuration.listenPort), "
                  + "\(configuration.backends.count) backend(s), database \(configuration.databasePath))")
            return
        }
        let configuration: ServerConfiguration
        do {
            configuration = try makeConfiguration()
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("lbserver: \(error.description)\n".utf8))
            throw ExitCode(64)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let format = configuration.logFormat
        LoggingSystem.bootstrap { _ in LineLogHandler(format: format, level: level) }
        let logger = Logger(label: "lbserver")
        if configuration.discardEvents {
            logger.warning("--discard-events: events are thrown away, not written (benchmark only)")
        }
        // A file-size limit hit while writing the database must be an I/O error the writer can
        // wait out, not a signal that kills the daemon.
        signal(SIGXFSZ, SIG_IGN)
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        // The balancer must be gone before its event loops are: its parts release promises there.
        do {
            let command = self
            try await Self.serve(configuration: configuration, group: eventLoopGroup, logger: logger,
                                 reloadConfiguration: { try command.makeConfiguration() })
        } catch {
            try? await eventLoopGroup.shutdownGracefully()
            throw error
        }
        try? await eventLoopGroup.shutdownGracefully()
    }

    /// Opens the daemon and runs its service group until it has stopped; a start-up failure,
    /// before or while binding, is one line on stderr and exit status 1.
    private static func serve(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup,
                              logger: Logger,
                              reloadConfiguration: @escaping @Sendable () throws -> ServerConfiguration) async throws {
        do {
            let balancer = try await LoadBalancer.open(configuration: configuration, group: group, logger: logger,
                                                       reloadConfiguration: reloadConfiguration)
            try await balancer.serviceGroup(gracefulShutdownSignals: [.sigterm, .sigint]).run()
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("lbserver: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Defaults, then the config file, then the flags given. Called again on SIGHUP.
    func makeConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let environment = ProcessInfo.processInfo.environment["LB_DB"], !environment.isEmpty {
            configuration.databasePath = environment
        }
        if let config {
            do {
                try ConfigFile.load(path: config, into: &configuration)
            } catch {
                throw StartupError(description: error.description)
            }
        }
        if let db { configuration.databasePath = db }
        if let logLevel {
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw StartupError(description: "--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            configuration.logLevel = logLevel
        }
        if let logFormat {
            guard let format = LogFormat(rawValue: logFormat) else {
                throw StartupError(description: "--log-format must be \(LogFormat.choices), not '\(logFormat)'")
            }
            configuration.logFormat = format
        }
        if let accessLog {
            guard !accessLog.isEmpty else { throw StartupError(description: "--access-log wants a file path or -") }
            configuration.accessLog = accessLog == "off" ? nil : accessLog
        }
        if let listen {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                  (0...65_535).contains(port) else {
                throw StartupError(description: "--listen wants HOST:PORT, not '\(listen)'")
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            configuration.listenHost = host.isEmpty ? "0.0.0.0" : host
            configuration.listenPort = port
        }
        if let port {
            guard (0...65_535).contains(port) else { throw StartupError(description: "--port must be 0-65535") }
            configuration.listenPort = port
        }
        if let backends {
            do {
                configuration.backends = try BackendURL.parseList(backends)
                let listed = Set(configuration.backends.map(\.text))
                configuration.backendDeclarations = configuration.backendDeclarations.filter { listed.contains($0.key) }
                configuration.backendOptions = configuration.backendOptions.filter { listed.contains($0.key) }
            } catch {
                throw StartupError(description: error.description)
            }
        }
        if let threads {
            guard threads >= 1 else { throw StartupError(description: "--threads must be at least 1") }
            configuration.threads = threads
        }
        if let healthInterval {
            configuration.health.interval = try duration(healthInterval, "--health-interval", minimum: 1)
        }
        if let healthDownInterval {
            configuration.health.downInterval = try duration(healthDownInterval, "--health-down-interval", minimum: 1)
        }
        if let healthTimeout { configuration.health.timeout = try duration(healthTimeout, "--health-timeout", minimum: 1) }
        if let healthPath {
            guard healthPath.hasPrefix("/") else { throw StartupError(description: "--health-path must start with /") }
            configuration.health.probe = .http(path: healthPath)
        }
        if let rise {
            guard rise >= 1 else { throw StartupError(description: "--rise must be at least 1") }
            configuration.health.rise = rise
        }
        if let fall {
            guard fall >= 1 else { throw StartupError(description: "--fall must be at least 1") }
            configuration.health.fall = fall
        }
        if let retries {
            guard retries >= 0 else { throw StartupError(description: "--retries must be 0 or more") }
            configuration.proxy.retriesPerBackend = retries
        }
        if let attempts {
            guard attempts >= 1 else { throw StartupError(description: "--attempts must be at least 1") }
            configuration.proxy.maximumAttempts = attempts
        }
        if let retryDelay { configuration.proxy.retryDelay = try duration(retryDelay, "--retry-delay", minimum: 0) }
        if let connectTimeout {
            configuration.proxy.connectTimeout = try duration(connectTimeout, "--connect-timeout", minimum: 1)
        }
        if let responseTimeout {
            configuration.proxy.responseTimeout = try duration(responseTimeout, "--response-timeout", minimum: 1)
        }
        if let replayBuffer {
            guard replayBuffer >= 0 else { throw StartupError(description: "--replay-buffer must be 0 or more") }
            configuration.proxy.replayBufferBytes = replayBuffer
        }
        if let gracePeriod { configuration.gracePeriod = try duration(gracePeriod, "--grace-period", minimum: 0) }
        if let algorithm {
            guard let chosen = BalancingAlgorithm(rawValue: algorithm) else {
                throw StartupError(description: "--algorithm must be one of \(BalancingAlgorithm.choices), not '\(algorithm)'")
            }
            configuration.balancing.algorithm = chosen
        }
        if let hashKey {
            guard let key = HashKey(parsing: hashKey) else {
                throw StartupError(description: "--hash-key must be \(HashKey.forms), not '\(hashKey)'")
            }
            configuration.balancing.hashKey = key
        }
        if let slowStart { configuration.balancing.slowStart = try duration(slowStart, "--slow-start", minimum: 0) }
        if let admin {
            if admin == "off" {
                configuration.admin = nil
            } else {
                guard let colon = admin.lastIndex(of: ":"), let port = Int(admin[admin.index(after: colon)...]),
                      (0...65_535).contains(port), colon > admin.startIndex else {
                    throw StartupError(description: "--admin wants HOST:PORT or off, not '\(admin)'")
                }
                configuration.admin = (String(admin[..<colon]), port)
            }
        }
        if let stateMaxAge { configuration.stateMaxAge = try duration(stateMaxAge, "--state-max-age", minimum: 0) }
        if let maxConnections { configuration.proxy.maxConnections = try atLeast(1, maxConnections, "--max-connections") }
        if let maxRequestLine { configuration.proxy.maxRequestLineBytes = try atLeast(16, maxRequestLine, "--max-request-line") }
        if let maxHeaderBytes { configuration.proxy.maxHeaderBytes = try atLeast(256, maxHeaderBytes, "--max-header-bytes") }
        if let maxHeaders { configuration.proxy.maxHeaders = try atLeast(1, maxHeaders, "--max-headers") }
        if let headerTimeout {
            configuration.proxy.headerTimeout = try duration(headerTimeout, "--header-timeout", minimum: 1)
        }
        if let idleTimeout { configuration.proxy.clientIdleTimeout = try duration(idleTimeout, "--idle-timeout", minimum: 1) }
        if let bodyTimeout { configuration.proxy.bodyTimeout = try duration(bodyTimeout, "--body-timeout", minimum: 1) }
        if let tunnelIdleTimeout {
            configuration.proxy.tunnelIdleTimeout = try duration(tunnelIdleTimeout, "--tunnel-idle-timeout", minimum: 1)
        }
        if let upgradeProtocols {
            switch UpgradePolicy.allowedList(parsing: upgradeProtocols) {
            case .success(let list): configuration.proxy.upgradeProtocols = list
            case .failure(let problem): throw StartupError(description: "--upgrade-protocols: \(problem.description)")
            }
        }
        if discardEvents { configuration.discardEvents = true }
        return configuration
    }

    private func atLeast(_ minimum: Int, _ value: Int, _ flag: String) throws -> Int {
        guard value >= minimum else { throw StartupError(description: "\(flag) must be at least \(minimum)") }
        return value
    }

    private func duration(_ text: String, _ flag: String, minimum: Int64) throws -> TimeAmount {
        guard let milliseconds = TimeParsing.milliseconds(fromDuration: text), milliseconds >= minimum else {
            throw StartupError(description: "\(flag) wants a duration such as 250ms, 2s or 1m, not '\(text)'")
        }
        return .milliseconds(milliseconds)
    }
}
