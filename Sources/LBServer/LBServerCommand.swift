import ArgumentParser
import Foundation
import LBStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `lbserver`: the daemon (`serve`, the default) and a stand-in backend (`respond`).
@main
struct LBServerMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lbserver",
        abstract: "HTTP/1.1 load balancer whose registry, health history and event log live in SQLite.",
        subcommands: [LBServerCommand.self, RespondCommand.self],
        defaultSubcommand: LBServerCommand.self)
}

/// `lbserver [serve]`: parses flags, builds the daemon and runs it until SIGTERM or SIGINT.
struct LBServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the load balancer (the default command).")

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String?

    @Option(help: "Port to listen on (shorthand for --listen 127.0.0.1:PORT).")
    var port: Int?

    @Option(help: "Comma-separated backend URLs, merged into the registry (e.g. http://127.0.0.1:9001,http://127.0.0.1:9002).")
    var backends: String?

    @Option(help: "Database file (created if missing).")
    var db: String = ProcessInfo.processInfo.environment["LB_DB"] ?? "lb.sqlite3"

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Time between health checks of a backend that is up.")
    var healthInterval: String = "20s"

    @Option(help: "Time between health checks of a backend that is down.")
    var healthDownInterval: String = "2s"

    @Option(help: "Health check timeout.")
    var healthTimeout: String = "2s"

    @Option(help: "Check health with GET PATH expecting 2xx instead of a TCP connect.")
    var healthPath: String?

    @Option(help: "Consecutive passing checks that bring a down backend up.")
    var rise: Int = 1

    @Option(help: "Consecutive failing checks that take an up backend down.")
    var fall: Int = 1

    @Option(help: "Retries of the same backend after a transport failure.")
    var retries: Int = 3

    @Option(help: "Pause before each retry of the same backend.")
    var retryDelay: String = "10ms"

    @Option(help: "Distinct backends tried for one request.")
    var attempts: Int = 3

    @Option(help: "Timeout for connecting to a backend.")
    var connectTimeout: String = "2s"

    @Option(help: "Timeout for a backend's response head.")
    var responseTimeout: String = "60s"

    @Option(help: "Request bodies up to this many bytes are kept so the request can be retried.")
    var replayBuffer: Int = 64 * 1024

    @Option(help: "On SIGTERM, how long in-flight requests may take to finish.")
    var gracePeriod: String = "10s"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    mutating func run() async throws {
        let configuration: ServerConfiguration
        do {
            configuration = try makeConfiguration()
        } catch let error as StartupError {
            throw ValidationError(error.description)
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "lbserver")
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        // The balancer must be gone before its event loops are: its parts release promises there.
        do {
            try await Self.serve(configuration: configuration, group: eventLoopGroup, logger: logger)
        } catch {
            try? await eventLoopGroup.shutdownGracefully()
            throw error
        }
        try? await eventLoopGroup.shutdownGracefully()
    }

    private static func serve(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup,
                              logger: Logger) async throws {
        let balancer: LoadBalancer
        do {
            balancer = try LoadBalancer(configuration: configuration, group: group, logger: logger)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("lbserver: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        // Tests and scripts read the bound address from this line.
        FileHandle.standardOutput.write(Data("lbserver listening on \(balancer.localAddressDescription)\n".utf8))
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: balancer)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await services.run()
    }

    private func makeConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.databasePath = db
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
            } catch {
                throw StartupError(description: error.description)
            }
        }
        if let threads {
            guard threads >= 1 else { throw StartupError(description: "--threads must be at least 1") }
            configuration.threads = threads
        }
        configuration.health.interval = try duration(healthInterval, "--health-interval", minimum: 1)
        configuration.health.downInterval = try duration(healthDownInterval, "--health-down-interval", minimum: 1)
        configuration.health.timeout = try duration(healthTimeout, "--health-timeout", minimum: 1)
        if let healthPath {
            guard healthPath.hasPrefix("/") else { throw StartupError(description: "--health-path must start with /") }
            configuration.health.probe = .http(path: healthPath)
        }
        guard rise >= 1, fall >= 1 else { throw StartupError(description: "--rise and --fall must be at least 1") }
        configuration.health.rise = rise
        configuration.health.fall = fall
        guard retries >= 0 else { throw StartupError(description: "--retries must be 0 or more") }
        guard attempts >= 1 else { throw StartupError(description: "--attempts must be at least 1") }
        configuration.proxy.retriesPerBackend = retries
        configuration.proxy.maximumAttempts = attempts
        configuration.proxy.retryDelay = try duration(retryDelay, "--retry-delay", minimum: 0)
        configuration.proxy.connectTimeout = try duration(connectTimeout, "--connect-timeout", minimum: 1)
        configuration.proxy.responseTimeout = try duration(responseTimeout, "--response-timeout", minimum: 1)
        guard replayBuffer >= 0 else { throw StartupError(description: "--replay-buffer must be 0 or more") }
        configuration.proxy.replayBufferBytes = replayBuffer
        configuration.gracePeriod = try duration(gracePeriod, "--grace-period", minimum: 0)
        return configuration
    }

    private func duration(_ text: String, _ flag: String, minimum: Int64) throws -> TimeAmount {
        guard let milliseconds = TimeParsing.milliseconds(fromDuration: text), milliseconds >= minimum else {
            throw StartupError(description: "\(flag) wants a duration such as 250ms, 2s or 1m, not '\(text)'")
        }
        return .milliseconds(milliseconds)
    }
}
