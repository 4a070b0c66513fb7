import Foundation
import LBStore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The daemon: opens the database, restores the registry and cursor, listens, proxies, checks
/// health, follows registry changes, and on shutdown drains and records a clean stop.
final class LoadBalancer: Service {
    let configuration: ServerConfiguration
    let logger: Logger
    private let store: Store
    private let writer: EventWriter
    private let sink: EventSink
    private let registry: BackendRegistry
    private let group: MultiThreadedEventLoopGroup
    private let checker: HealthChecker
    private let pools: UpstreamPools
    private let watcher: RegistryWatcher
    private let quiesce: ServerQuiescingHelper
    private let serverChannel: Channel
    private let adminChannel: Channel?
    private let restoredRegistryVersion: Int64
    private let metrics = DaemonMetrics()
    private let accessLog: AccessLog?
    /// Builds the configuration again (defaults, file, flags) for a SIGHUP reload.
    private let reloadConfiguration: (@Sendable () throws -> ServerConfiguration)?

    /// The address actually bound (the port is the OS's choice when 0 was asked for).
    var localAddress: SocketAddress? { serverChannel.localAddress }

    /// Opens the store and binds the listener on `group`; throws `StartupError` with a one-line
    /// reason. The caller shuts `group` down after this object is gone.
    init(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, logger: Logger,
         reloadConfiguration: (@Sendable () throws -> ServerConfiguration)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        self.reloadConfiguration = reloadConfiguration
        let differences: [ConfigDifference]
        do {
            store = try Store(path: configuration.databasePath, mode: .create)
            // A configuration that declares no backends leaves the registry as it is: a restart
            // with no --backends serves what the database holds.
            differences = configuration.backends.isEmpty ? [] : try store.reconcile(declared: configuration.declaredBackends)
        } catch let error as StoreError {
            throw StartupError(.database, "cannot use database \(configuration.databasePath): \(error.message)")
        } catch {
            throw StartupError(.database, "cannot use database \(configuration.databasePath): \(error)")
        }
        let started = Timestamp.now()
        let saved: BalancerState
        let records: [Backend]
        do {
            saved = try store.balancerState()
            records = try store.backends()
            restoredRegistryVersion = try store.registryVersion()
        } catch {
            throw StartupError(.database, "cannot read database \(configuration.databasePath): \(error)")
        }
        let reporter = StoreErrorReporter(logger: logger)
        do {
            writer = try EventWriter(path: configuration.databasePath, onError: { reporter.report($0) })
        } catch {
            throw StartupError(.database, "cannot write database \(configuration.databasePath): \(error)")
        }
        sink = EventSink(writer: writer, logger: logger, metrics: metrics, discardsEvents: configuration.discardEvents,
                         flushLoop: group.next())
        let balancer = configuration.balancing.makeBalancer(cursor: Int(truncatingIfNeeded: saved.cursor))
        registry = BackendRegistry(balancer: balancer)
        registry.setOptions(configuration.backendOptions)
        // Restored state older than --state-max-age is not routed on: every backend starts
        // unknown and one check round decides before the listener accepts.
        let stateAge = saved.savedAt.map { started.milliseconds - $0.milliseconds }
        let startupPath: String
        if saved.lastStart == nil {
            startupPath = "first"
        } else if let stateAge, stateAge <= configuration.stateMaxAge.nanoseconds / 1_000_000 {
            startupPath = "fresh"
        } else {
            startupPath = "stale"
        }
        let restoredDown = records.filter { $0.health == .down && $0.adminState != .disabled }
        registry.apply(startupPath == "stale" ? records.map { record in
            var unknown = record
            unknown.health = .unknown
            return unknown
        } : records)

        self.group = group
        pools = UpstreamPools(group: group, settings: configuration.proxy)
        checker = HealthChecker(eventLoop: group.next(), settings: configuration.health, sink: sink)
        quiesce = ServerQuiescingHelper(group: group)
        let checker = self.checker
        if startupPath == "stale" {
            logger.notice("restored state is stale; checking every backend before accepting",
                          metadata: ["state_age": "\(stateAge.map { "\($0 / 1000)s" } ?? "unknown")"])
            checker.checkAllOnce(registry.all)
        } else if startupPath == "fresh" {
            // Routing on the restored state is a decision of its own, recorded with its age.
            for record in restoredDown {
                guard let runtime = registry.all.first(where: { $0.id == record.id }) else { continue }
                sink.statusChange(runtime, from: .unknown, to: .down, cause: EventSink.Cause(
                    kind: .restore,
                    summary: "restore: down since \(record.healthSince.rfc3339), state \((stateAge ?? 0) / 1000)s old",
                    threshold: nil,
                    evidence: [Evidence(at: record.healthSince, source: .check, error: "recorded down before the restart")],
                    stateAgeMilliseconds: stateAge), at: started)
            }
        }
        do {
            accessLog = try configuration.accessLog.map { try AccessLog(destination: $0, format: configuration.logFormat) }
        } catch {
            writer.close()
            throw StartupError(.accessLog, "\(error)")
        }
        let context = ProxyContext(balancer: balancer, hashKey: configuration.balancing.requestKey, pools: pools,
                                   sink: sink, settings: configuration.proxy, accessLog: accessLog,
                                   markedDown: { checker.probeSoon($0) },
                                   trafficMarkDowns: TrafficMarkDownGuard(window: configuration.health.downInterval))
        let idleTimeout = configuration.proxy.clientIdleTimeout
        let headerTimeout = configuration.proxy.headerTimeout
        let quiesce = self.quiesce
        let sink = self.sink
        let limiter = ConnectionLimiter(maximum: configuration.proxy.maxConnections,
                                        onRefused: { sink.connectionRefused() })
        do {
            serverChannel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    // Over the cap: failing the initializer makes NIO close the connection.
                    guard limiter.admit(channel) else {
                        return channel.eventLoop.makeFailedFuture(ConnectionLimiter.Refused())
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            ClientPipeline.handlers(context: context, headerTimeout: headerTimeout,
                                                    idleTimeout: idleTimeout))
                    }
                }
                .bind(host: configuration.listenHost, port: configuration.listenPort)
                .wait()
        } catch {
            writer.close()
            accessLog?.close()
            throw StartupError(.listener, "cannot listen on \(configuration.listenHost):\(configuration.listenPort): \(Self.describe(error))")
        }

        if let admin = configuration.admin {
            let registry = self.registry
            let writer = self.writer
            let listen = "\(serverChannel.localAddress?.ipAddress ?? configuration.listenHost):\(serverChannel.localAddress?.port ?? 0)"
            let algorithm = configuration.balancing.algorithm.rawValue
            let path = configuration.databasePath
            let metrics = self.metrics
            do {
                adminChannel = try AdminHandler.bind(host: admin.host, port: admin.port, group: group, metrics: {
                    metrics.scrape(backends: registry.all, openConnections: limiter.openConnections,
                                   writer: writer.currentStatistics)
                }) {
                    let statistics = writer.currentStatistics
                    return StatusReport(
                        listen: listen, startedAt: started.rfc3339, algorithm: algorithm,
                        openConnections: limiter.openConnections,
                        database: .init(path: path, writable: !statistics.isFailing, lastError: statistics.lastError,
                                        eventsWritten: statistics.written, eventsDropped: statistics.dropped,
                                        eventsQueued: statistics.pending, failedBatches: statistics.failedBatches),
                        backends: registry.all.map { backend in
                            .init(url: backend.url.text, health: backend.currentHealth.rawValue,
                                  adminState: backend.adminState.rawValue, weight: backend.weight,
                                  inFlight: backend.inFlight.load(ordering: .relaxed),
                                  backup: backend.isBackup, maxConnections: backend.maxConnections,
                                  recentChecks: backend.recentChecks.checks.map { check in
                                      .init(at: check.at.rfc3339, passed: check.passed,
                                            latencyMs: (check.latencyMilliseconds * 1000).rounded() / 1000,
                                            error: check.error)
                                  })
                        })
                }
            } catch {
                try? serverChannel.close().wait()
                writer.close()
                accessLog?.close()
                throw StartupError(.adminListener, "cannot listen on \(admin.host):\(admin.port) for --admin: \(Self.describe(error))")
            }
        } else {
            adminChannel = nil
        }

        let registry = self.registry
        let pools = self.pools
        watcher = RegistryWatcher(
            store: store, registry: registry, writer: writer, logger: logger,
            pollInterval: Double(configuration.registryPollInterval.nanoseconds) / 1e9,
            onChange: { changes in
                for backend in changes.added {
                    logger.info("backend added", metadata: ["backend": "\(backend.url)"])
                }
                for backend in changes.removed {
                    logger.info("backend removed", metadata: ["backend": "\(backend.url)"])
                    pools.drop(slot: backend.slot)
                }
                for (backend, change) in changes.updated {
                    logger.info("backend changed", metadata: ["backend": "\(backend.url)", "change": "\(change)"])
                }
                checker.track(registry.all)
            })

        let down = registry.all.filter { $0.currentHealth == .down }.map(\.url.text)
        let cleanStop = saved.lastStart.map { start in saved.lastCleanStop.map { $0 >= start } ?? false } ?? true
        writer.recordStart(at: started)
        let ageText = stateAge.map { "\($0 / 1000)s" } ?? "none"
        writer.record(Event(at: started, kind: .startup, detail: [
            "listen=\(localAddressDescription)",
            "backends=\(registry.all.count)",
            "restored_down=\(down.isEmpty ? "none" : down.joined(separator: ","))",
            "cursor=\(saved.cursor)",
            "algorithm=\(configuration.balancing.algorithm.rawValue)",
            "previous_stop=\(saved.lastStart == nil ? "first start" : cleanStop ? "clean" : "unclean")",
            "state=\(startupPath) state_age=\(ageText)",
            "config_differences=\(differences.isEmpty ? "none" : differences.map { "\($0.url):\($0.field):\($0.winner)" }.joined(separator: ","))",
        ].joined(separator: " "), data: EventData(stateAgeMs: stateAge, path: startupPath, differences: differences)))
        checker.track(registry.all)
        watcher.start(registryVersion: restoredRegistryVersion,
                      cursor: balancer.cursorToSave ?? Int(truncatingIfNeeded: saved.cursor))
        logger.info("listening", metadata: [
            "address": "\(localAddressDescription)", "backends": "\(registry.all.count)",
            "database": "\(configuration.databasePath)", "threads": "\(max(1, configuration.threads))",
            "algorithm": "\(configuration.balancing.algorithm.rawValue)",
        ])
    }

    var localAddressDescription: String {
        guard let address = serverChannel.localAddress, let ip = address.ipAddress, let port = address.port else {
            return "\(configuration.listenHost):\(configuration.listenPort)"
        }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    /// Serves until a graceful shutdown is asked for, then drains and records a clean stop.
    func run() async throws {
        // SIGHUP reloads; trapped before the listening line, so a script that read it may send one.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloader = Task { [self] in
            for await _ in hangups { await reload() }
        }
        defer { reloader.cancel() }
        // Printed once the service group runs, so its SIGTERM handling is in place by the time a
        // script that read this line can send one. Tests and scripts read the address from it.
        if let address = adminChannel?.localAddress, let ip = address.ipAddress, let port = address.port {
            FileHandle.standardOutput.write(Data("lbserver admin listening on \(ip):\(port)\n".utf8))
        }
        FileHandle.standardOutput.write(Data("lbserver listening on \(localAddressDescription)\n".utf8))
        let drained = group.next().makePromise(of: Void.self)
        await withGracefulShutdownHandler {
            try? await serverChannel.closeFuture.get()
        } onGracefulShutdown: { [quiesce, logger, gracePeriod = configuration.gracePeriod] in
            logger.info("shutting down: no new connections, finishing requests in flight",
                        metadata: ["grace_period": "\(gracePeriod)"])
            quiesce.initiateShutdown(promise: drained)
        }
        // Every open connection finishes its request, or the grace period ends.
        let timer = group.next().scheduleTask(in: configuration.gracePeriod) {
            drained.fail(ChannelError.ioOnClosedChannel)
        }
        let finishedInTime = (try? await drained.futureResult.get()) != nil
        timer.cancel()
        if !finishedInTime {
            logger.warning("grace period over; closing the connections still open")
        }
        await shutdown(clean: true)
    }

    /// What a reload changed.
    private struct ReloadOutcome: Sendable {
        var backends: Int
        var registryChanges: [ConfigDifference]
        /// Config keys whose new values take effect only after a restart.
        var needRestart: [String]
    }

    /// SIGHUP: reads the configuration again and brings the registry in line with the backends it
    /// declares (the registry watcher then applies that as it does an `lbctl` change), without
    /// touching a connection. Other settings that changed are named as needing a restart. A bad
    /// file changes nothing and is logged with its line.
    func reload() async {
        guard let reloadConfiguration else {
            logger.notice("SIGHUP: no configuration to reload")
            return
        }
        let running = configuration
        let path = configuration.databasePath
        let registry = self.registry
        do {
            // Reading the file and the registry transaction block: never on an event loop.
            let outcome = try await NIOThreadPool.singleton.runIfActive { () throws -> ReloadOutcome in
                let new = try reloadConfiguration()
                // A connection of its own, as lbctl's would be: the watcher polls data_version,
                // which moves only for commits made by other connections.
                let differences = new.backends.isEmpty
                    ? [] : try Store(path: path, mode: .existing).reconcile(declared: new.declaredBackends,
                                                                            occasion: "reload")
                if !new.backends.isEmpty { registry.setOptions(new.backendOptions) }
                return ReloadOutcome(backends: new.backends.count, registryChanges: differences,
                                     needRestart: ServerConfiguration.settingsNeedingRestart(from: running, to: new))
            }
            logger.notice("configuration reloaded", metadata: [
                "backends": "\(outcome.backends)",
                "registry_changes": "\(outcome.registryChanges.isEmpty ? "none" : outcome.registryChanges.map { "\($0.url):\($0.field)" }.joined(separator: ","))",
            ])
            if !outcome.needRestart.isEmpty {
                logger.warning("changed settings take effect at the next restart",
                               metadata: ["settings": "\(outcome.needRestart.joined(separator: ","))"])
            }
        } catch {
            let reason = (error as? StartupError)?.description ?? (error as? StoreError)?.message ?? "\(error)"
            logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(reason)"])
        }
    }

    /// Stops everything; records `shutdown` and the clean-stop time when `clean`.
    func shutdown(clean: Bool) async {
        try? await adminChannel?.close()
        await checker.stop()
        watcher.stop()
        // The coalesced answers still merged are written before the stop is, so every count is.
        sink.flushCoalesced()
        if clean {
            let now = Timestamp.now()
            if let cursor = registry.balancer.cursorToSave { writer.recordCursor(Int64(cursor), at: now) }
            writer.record(Event(at: now, kind: .shutdown, detail: "clean stop"))
            writer.recordCleanStop(at: now)
        }
        let statistics = writer.currentStatistics
        writer.close()
        accessLog?.close()
        logger.info("stopped", metadata: ["events_written": "\(statistics.written)",
                                          "events_dropped": "\(statistics.dropped)"])
    }

    private static func describe(_ error: Error) -> String {
        if let io = error as? IOError, io.errnoCode == EADDRINUSE { return "address already in use" }
        if let io = error as? IOError, io.errnoCode == EACCES { return "permission denied" }
        if let io = error as? IOError, io.errnoCode == EADDRNOTAVAIL { return "address not available on this host" }
        return "\(error)"
    }
}
