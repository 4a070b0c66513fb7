import ArgumentParser
import Foundation
import LBStore
import LBText
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `lbserver`: the daemon (`serve`, the default) and a stand-in backend (`respond`).
public struct LBServerMain: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lbserver",
        abstract: "HTTP/1.1 load balancer whose registry, health history and event log live in SQLite.",
        version: ProductVersion.current,
        subcommands: [LBServerCommand.self, ReloadCommand.self, RespondCommand.self],
        defaultSubcommand: LBServerCommand.self)

    public init() {}
}

/// `lbserver [serve]`: parses flags, builds the daemon and runs it until SIGTERM or SIGINT.
struct LBServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the load balancer (the default command).")

    @OptionGroup(title: "Config file") var file: ConfigFileOptions
    // Every other flag is a row of the `Settings` table, grouped by concern.
    @OptionGroup(title: "Listener and limits") var listener: ListenerOptions
    @OptionGroup(title: "TLS") var tls: TLSOptions
    @OptionGroup(title: "Health checks") var health: HealthOptions
    @OptionGroup(title: "Outlier detection") var outlier: OutlierOptions
    @OptionGroup(title: "Retries and proxying") var proxy: ProxyOptions
    @OptionGroup(title: "Backends and balancing") var balancing: BalancingOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions
    @OptionGroup(title: "Database") var database: DatabaseOptions
    @OptionGroup(title: "Start and stop") var lifecycle: LifecycleOptions

    mutating func run() async throws {
        if let checkConfig = file.checkConfig {
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
        } catch {
            FileHandle.standardError.write(Data("lbserver: \(error.description)\n".utf8))
            // A bad file is bad data (65), as --check-config and lbserver reload say; a bad flag, usage (64).
            throw ExitCode(error.file == nil ? 64 : 65)
        }
        LineLogHandler.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
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
                                 replacing: lifecycle.replace,
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
                              logger: Logger, replacing: Bool,
                              reloadConfiguration: @escaping @Sendable () throws -> ServerConfiguration) async throws {
        let predecessor = replacing ? try await findPredecessor(configuration, logger: logger) : nil
        do {
            let balancer = try await LoadBalancer.open(configuration: configuration, group: group, logger: logger,
                                                       reloadConfiguration: reloadConfiguration,
                                                       predecessor: predecessor)
            try await balancer.serviceGroup(gracefulShutdownSignals: [.sigterm, .sigint]).run()
        } catch let error as StartupError {
            // The predecessor goes on serving on the sockets it lent.
            predecessor?.abandon()
            FileHandle.standardError.write(Data("lbserver: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// `--replace`: the daemon on the control socket, which lends its listening sockets; nil (with
    /// a notice) when none runs there. One that refuses stops this start with exit status 1.
    private static func findPredecessor(_ configuration: ServerConfiguration, logger: Logger) async throws -> Predecessor? {
        let path = configuration.controlSocketPath
        do {
            let predecessor = try await NIOThreadPool.singleton.runIfActive {
                try Predecessor.contact(path: path, version: InstanceName.version)
            }
            if let predecessor {
                logger.notice("taking over from the running lbserver; it serves until this one is ready",
                              metadata: ["replaced_pid": "\(predecessor.pid)", "control_socket": "\(path)"])
            } else {
                logger.notice("--replace: no lbserver answers on the control socket; starting as usual",
                              metadata: ["control_socket": "\(path)"])
            }
            return predecessor
        } catch {
            FileHandle.standardError.write(Data("lbserver: cannot take over from the running lbserver: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Defaults, then the config file, then the flags given. Called again on SIGHUP.
    func makeConfiguration() throws(ConfigurationError) -> ServerConfiguration {
        var configuration = ServerConfiguration.defaults()
        if let config = file.config { try ConfigFile.load(path: config, into: &configuration) }
        listener.apply(to: &configuration)
        try tls.apply(to: &configuration)
        health.apply(to: &configuration)
        outlier.apply(to: &configuration)
        proxy.apply(to: &configuration)
        balancing.apply(to: &configuration)
        logging.apply(to: &configuration)
        database.apply(to: &configuration)
        lifecycle.apply(to: &configuration)
        return configuration
    }
}
