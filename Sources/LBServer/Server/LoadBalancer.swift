import Foundation
import LBStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon. `open` does what must come before serving, off Swift concurrency's threads: opens
/// the database, reconciles the declared backends, restores the registry, health and cursor, runs
/// the check round that stale state asks for, and opens the access log. `serviceGroup` then runs
/// the parts as services of one `ServiceGroup`: they bind, serve, follow the registry, check
/// health, reload on SIGHUP, and on SIGTERM stop in reverse order, the traffic listener draining
/// first and the event writer recording a clean stop last.
///
/// One `LoadBalancer` runs once: its milestones are those of one start and one stop.
final class LoadBalancer: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger
    /// The event writer, whose thread `open` started and the group's first service stops.
    let writer: EventWriter
    /// With PostgreSQL: the service that sends the outbox on.
    private let forwarding: ForwarderService?
    let sink: EventSink
    let registry: BackendRegistry
    private let group: MultiThreadedEventLoopGroup
    let checker: HealthChecker
    let pools: UpstreamPools
    let watcher: RegistryWatcher
    let limiter: ConnectionLimiter
    /// What each connection's proxy handler reads, per event loop; a reload replaces it.
    let liveContext: LiveProxyContext
    /// How many backends traffic marked down lately; its window follows the health settings.
    let trafficMarkDowns: TrafficMarkDownGuard
    /// Passive outlier detection, kept while it is off so that a reload can turn it on.
    let outliers: OutlierDetector
    private let restored: Restored
    private let metrics: DaemonMetrics
    /// The access log, kept while it is off so that a reload can turn it on.
    let accessLog: AccessLog
    /// TLS on the traffic listener; nil for plain HTTP.
    let tls: ServerTLS?
    /// TLS to `https://` backends, for the pools and the checks.
    let backendTLS: BackendTLS
    private let hangups: UnixSignalsSequence
    /// Builds the configuration again (defaults, file, flags) for a SIGHUP reload.
    let reloadConfiguration: (@Sendable () throws -> ServerConfiguration)?
    /// The daemon this one took over from (`--replace`), until it is released.
    let predecessor: Predecessor?
    /// The listening sockets: inherited from the predecessor, bound, and offered to a successor.
    let sockets: ListenerSockets
    /// Reached with the successor's pid once this daemon handed its sockets over and drains.
    let handedOver = Milestone<Int32>()
    /// Reached once the predecessor, if any, let go: the control socket may then be taken.
    let predecessorReleased = Milestone<Void>()
    /// The group `serviceGroup` made, which a handover stops.
    let runningGroup = Mutex<ServiceGroup?>(nil)
    /// systemd's readiness protocol; silent unless systemd started the daemon as `Type=notify`.
    let notifier = SystemdNotifier()
    /// How to start a successor for a restart by handover, from this process's command line.
    let successor = Successor.fromCommandLine()
    /// The configuration the last successful reload read (at first, the one started with): what
    /// the next reload's changes are counted from.
    let lastLoaded: Mutex<ServerConfiguration>
    /// A reload is under way; another one meanwhile is refused.
    let reloading = Mutex(false)

    /// The traffic listener's address, once bound (the port is the OS's choice when 0 was asked for).
    let listening = Milestone<SocketAddress>()
    /// The admin listener's address, once bound.
    let adminListening = Milestone<SocketAddress>()
    /// Reached once the start is recorded and announced: the daemon accepts, checks and watches.
    let started = Milestone<Void>()

    /// The address actually bound, once it is.
    var localAddress: SocketAddress? { listening.current }

    /// What the start found in the database and decided.
    private struct Restored: Sendable {
        var saved: BalancerState
        var registryVersion: Int64
        var differences: [ConfigDifference]
        var startedAt: Timestamp
        /// first, fresh or stale.
        var path: String
        var stateAgeMilliseconds: Int64?
    }

    /// What is read from the database before the daemon is built; made on the thread pool.
    struct Opened: Sendable {
        /// The registry's store: the SQLite file, or the fleet's PostgreSQL database.
        var store: Store
        var writer: EventWriter
        /// With PostgreSQL: the local outbox's store (the registry's copy) and its forwarder.
        var outbox: Store?
        var forwarder: OutboxForwarder?
        var saved: BalancerState
        var records: [Backend]
        var registryVersion: Int64
        var differences: [ConfigDifference]
        var startedAt: Timestamp
        /// PostgreSQL was away at the start: the registry is the outbox's copy.
        var registryFromOutbox: Bool
        /// With PostgreSQL: the registry's change notifications, which wake the watcher.
        var notifications: RegistryNotifications? = nil
    }

    /// Opens the store, restores what it holds and prepares the services; throws `StartupError`
    /// with a one-line reason. Blocking work (SQLite, opening files) runs on the thread pool; a
    /// stale state's check round is awaited. Traps `hangupSignals` for the reloader. The caller
    /// shuts `group` down after the service group has returned.
    static func open(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, logger: Logger,
                     reloadConfiguration: (@Sendable () throws -> ServerConfiguration)? = nil,
                     hangupSignals: [UnixSignal] = [.sighup],
                     predecessor: Predecessor? = nil,
                     threadPool: NIOThreadPool = .singleton) async throws -> LoadBalancer {
        let metrics = DaemonMetrics()
        // Certificates first: a bad file stops the start before anything is opened.
        let tls: ServerTLS?
        let backendTLS: BackendTLS
        do {
            (tls, backendTLS) = try await threadPool.runIfActive { () throws -> (ServerTLS?, BackendTLS) in
                (configuration.tls.isEnabled ? try ServerTLS(configuration.tls) : nil, try BackendTLS(configuration.backendTLS))
            }
        } catch let error as TLSLoadError {
            throw StartupError(.tls, error.description)
        }
        if let problem = backendTLS.trustStoreProblem { logger.warning("\(problem)") }
        let reporter = StoreErrorReporter(logger: logger)
        let opened = try await threadPool.runIfActive { try openStores(configuration, reporter: reporter, logger: logger) }
        let writer = opened.writer
        if let recovered = writer.recoveredFromSpill {
            let metadata: Logger.Metadata = ["records": "\(recovered.records)", "spilled_at": "\(recovered.spilledAt.rfc3339)",
                                             "spill_file": "\(writer.spillPath)"]
            if recovered.committed {
                logger.notice("wrote the records the last stop kept in the spill file, before restoring", metadata: metadata)
            } else {
                logger.warning("the records the last stop kept in the spill file cannot be written yet; they are the first to be when the database can be",
                               metadata: metadata)
            }
        }
        if opened.registryFromOutbox {
            logger.warning("PostgreSQL unreachable: starting from the registry the outbox kept; following PostgreSQL's once it answers",
                           metadata: ["database": "\(configuration.databasePath)", "outbox": "\(configuration.outboxFile)"])
        }
        let forwarding = opened.forwarder.map { ForwarderService(forwarder: $0, writer: writer, logger: logger) }
        let saved = opened.saved
        let started = opened.startedAt
        let sink = EventSink(writer: writer, logger: logger, metrics: metrics, discardsEvents: configuration.discardEvents,
                             flushLoop: group.next())
        let balancer = configuration.balancing.makeBalancer(cursor: Int(truncatingIfNeeded: saved.cursor))
        let registry = BackendRegistry(balancer: balancer)
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
        let records = opened.records
        let restoredDown = records.filter { $0.health == .down && $0.adminState != .disabled }
        registry.apply(startupPath == "stale" ? records.map { record in
            var unknown = record
            unknown.health = .unknown
            return unknown
        } : records)
        Self.warnOfUnverifiedBackends(registry.all, logger: logger)

        let checker = HealthChecker(eventLoop: group.next(), settings: configuration.health, sink: sink,
                                    backendTLS: backendTLS)
        let trafficMarkDowns = TrafficMarkDownGuard(window: configuration.health.downInterval)
        let outliers = OutlierDetector(
            settings: configuration.outlier, sink: sink, eventLoop: group.next(),
            enabledBackends: { registry.balancer.current.backends.reduce(0) { $0 + ($1.adminState == .enabled ? 1 : 0) } },
            isInService: { backend in registry.all.contains { $0 === backend && $0.adminState != .disabled } },
            trafficMarkDowns: trafficMarkDowns)
        if startupPath == "stale" {
            logger.notice("restored state is stale; checking every backend before accepting",
                          metadata: ["state_age": "\(stateAge.map { "\($0 / 1000)s" } ?? "unknown")"])
            await checker.checkAllOnce(registry.all)
        } else if startupPath == "fresh" {
            // Why each was down: the status change this instance recorded last (an outlier
            // ejection still running holds after the restart).
            let downCauses = restoredDown.isEmpty ? [:] : ((try? await threadPool.runIfActive {
                try Self.latestStatusChanges(of: restoredDown, in: opened.outbox ?? opened.store,
                                             instance: configuration.instanceName, at: started)
            }) ?? [:])
            // Routing on the restored state is a decision of its own, recorded with its age.
            for record in restoredDown {
                guard let runtime = registry.all.first(where: { $0.id == record.id }) else { continue }
                let down = RestoredDown(latest: downCauses[record.id], at: started)
                var summary = "restore: down since \(record.healthSince.rfc3339) (\(down.causeText)), "
                    + "state \((stateAge ?? 0) / 1000)s old"
                let ejection = configuration.outlier.isEnabled ? down.ejection : nil
                if let ejection {
                    let remaining = ejection.until.milliseconds - Timestamp.now().milliseconds
                    outliers.restore(runtime, ejectedUntil: .now() + .milliseconds(max(0, remaining)),
                                     ejections: ejection.ejections)
                    summary += ", ejected as an outlier until \(ejection.until.rfc3339)"
                }
                sink.statusChange(runtime, from: .unknown, to: .down, cause: EventSink.Cause(
                    kind: .restore, summary: summary, threshold: nil,
                    evidence: [Evidence(at: record.healthSince, source: down.source,
                                        requestID: down.requestID, error: down.evidenceText)],
                    stateAgeMilliseconds: stateAge, ejectedUntil: ejection?.until, ejections: ejection?.ejections,
                    since: record.healthSince),
                    at: started)
            }
        }
        let accessLog: AccessLog
        do {
            accessLog = try await threadPool.runIfActive {
                try AccessLog(destination: configuration.accessLog, format: configuration.logFormat)
            }
        } catch {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                writer.close(then: { continuation.resume() })
            }
            throw StartupError(.accessLog, "\(error)")
        }
        // Trapped before the daemon says it listens, so a script that read that line may send one.
        let hangups = await UnixSignalsSequence(trapping: hangupSignals)
        return LoadBalancer(
            configuration: configuration, group: group, logger: logger, reloadConfiguration: reloadConfiguration,
            store: opened.store, outbox: opened.outbox, notifications: opened.notifications, forwarding: forwarding,
            writer: writer, sink: sink, registry: registry, checker: checker, trafficMarkDowns: trafficMarkDowns, outliers: outliers, metrics: metrics,
            accessLog: accessLog, tls: tls, backendTLS: backendTLS, hangups: hangups, predecessor: predecessor,
            restored: Restored(saved: saved, registryVersion: opened.registryVersion, differences: opened.differences,
                               startedAt: started, path: startupPath, stateAgeMilliseconds: stateAge))
    }

    /// The latest status change this instance recorded of each of `restoredDown` before `now`.
    private static func latestStatusChanges(of restoredDown: [Backend], in store: Store, instance: String,
                                            at now: Timestamp) throws -> [Int64: Event] {
        let latest = try store.latestChanges(before: EventPosition(at: now, id: .max), actions: [], instances: [instance])
        var changes: [Int64: Event] = [:]
        for record in restoredDown {
            if let change = latest[record.id]?.statusByInstance[instance] { changes[record.id] = change }
        }
        return changes
    }

    /// One warning per `https://` backend whose certificate the registry says not to verify, at
    /// the start and whenever one is added so or turned so: such a backend can be impersonated by
    /// anyone on the path.
    static func warnOfUnverifiedBackends(_ backends: [BackendRuntime], logger: Logger) {
        for backend in backends where !backend.verifiesTLS && backend.url.isTLS {
            logger.warning("TLS verification is OFF for this backend (tls_verify: false): its certificate is not checked, and anyone on the path can pose as it",
                           metadata: ["backend": "\(backend.url)"])
        }
    }

    /// Assembles the parts `open` made; nothing here blocks or binds.
    private init(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, logger: Logger,
                 reloadConfiguration: (@Sendable () throws -> ServerConfiguration)?, store: Store,
                 outbox: Store?, notifications: RegistryNotifications?, forwarding: ForwarderService?, writer: EventWriter, sink: EventSink, registry: BackendRegistry, checker: HealthChecker,
                 trafficMarkDowns: TrafficMarkDownGuard, outliers: OutlierDetector, metrics: DaemonMetrics, accessLog: AccessLog, tls: ServerTLS?, backendTLS: BackendTLS,
                 hangups: UnixSignalsSequence, predecessor: Predecessor?,
                 restored: Restored) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.reloadConfiguration = reloadConfiguration
        self.writer = writer
        self.forwarding = forwarding
        self.sink = sink
        self.registry = registry
        self.checker = checker
        self.metrics = metrics
        self.accessLog = accessLog
        self.tls = tls
        self.backendTLS = backendTLS
        self.hangups = hangups
        self.restored = restored
        self.predecessor = predecessor
        lastLoaded = Mutex(configuration)
        sockets = ListenerSockets(inheritedTraffic: predecessor?.traffic, inheritedAdmin: predecessor?.admin)
        let pools = UpstreamPools(group: group, settings: configuration.proxy, backendTLS: backendTLS)
        self.pools = pools
        limiter = ConnectionLimiter(maximum: configuration.proxy.maxConnections,
                                    onRefused: { sink.connectionRefused() })
        self.trafficMarkDowns = trafficMarkDowns
        self.outliers = outliers
        liveContext = LiveProxyContext(
            Self.proxyContext(for: configuration, balancer: registry.balancer, pools: pools, tls: tls, sink: sink,
                              accessLog: accessLog, checker: checker, trafficMarkDowns: trafficMarkDowns,
                              outliers: outliers),
            group: group)
        watcher = RegistryWatcher(
            store: store, snapshot: outbox, notifications: notifications, registry: registry, writer: writer, logger: logger,
            pollInterval: .nanoseconds(configuration.registryPollInterval.nanoseconds),
            registryVersion: restored.registryVersion,
            cursor: registry.balancer.cursorToSave ?? Int(truncatingIfNeeded: restored.saved.cursor),
            startsAfter: started,
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
                Self.warnOfUnverifiedBackends(changes.added + changes.updated.filter { $0.1.contains("tls_verify") }.map(\.0),
                                              logger: logger)
                checker.track(registry.all)
            })
    }

    /// The proxy context `configuration` describes, around the daemon's shared parts: the
    /// outlier detector and the access log take part only while they are on.
    static func proxyContext(for configuration: ServerConfiguration, balancer: any Balancer, pools: UpstreamPools,
                             tls: ServerTLS?, sink: EventSink, accessLog: AccessLog, checker: HealthChecker,
                             trafficMarkDowns: TrafficMarkDownGuard, outliers: OutlierDetector) -> ProxyContext {
        ProxyContext(balancer: balancer, hashKey: configuration.balancing.requestKey, pools: pools,
                     clientScheme: tls == nil ? "http" : "https", sink: sink, settings: configuration.proxy,
                     accessLog: configuration.accessLog == nil ? nil : accessLog,
                     markedDown: { checker.probeSoon($0) }, trafficMarkDowns: trafficMarkDowns,
                     outliers: configuration.outlier.isEnabled ? outliers : nil)
    }

    /// The daemon's services in start order. The group stops them in reverse: the reloader, the
    /// traffic listener (draining), the admin listener, the registry watcher, the health checker,
    /// the access log, and last the event writer, which waits for every service that records.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        let listenerStopped = Milestone<Void>()
        let watcherStopped = Milestone<Void>()
        let checkerStopped = Milestone<Void>()
        let controlStopped = Milestone<Void>()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // Before the writer, so stopped after it: its last pass sends the writer's last records.
        if let forwarding { services.append(.init(service: forwarding)) }
        services += [
            .init(service: EventWriterService(writer: writer, sink: sink, registry: registry, logger: logger,
                                              started: started, handedOver: handedOver,
                                              stopsAfter: [listenerStopped, watcherStopped, checkerStopped, controlStopped])),
        ]
        services.append(.init(service: accessLog))
        services.append(.init(service: StopReportingService(base: checker, stopped: checkerStopped)))
        services.append(.init(service: StopReportingService(base: watcher, stopped: watcherStopped)))
        if let admin = configuration.admin {
            // A failed bind stops the group at once (the default): nothing was accepted yet.
            services.append(.init(service: AdminListener(
                host: admin.host, port: admin.port, group: group, sockets: sockets, startsAfter: listening, bound: adminListening,
                metrics: { [metrics, registry, limiter, writer] in
                    metrics.scrape(backends: registry.all, openConnections: limiter.openConnections,
                                   writer: writer.currentStatistics, walBytes: writer.walBytes)
                },
                report: { [self] in statusReport() })))
            // The page's last minute per backend; nothing else reads it.
            services.append(.init(service: LoadSampler(backends: { [registry] in registry.all })))
        }
        let listener = TrafficListener(
            host: configuration.listenHost, port: configuration.listenPort, group: group, logger: logger,
            gracePeriod: configuration.gracePeriod, limiter: limiter, sockets: sockets,
            initializeConnection: { [liveContext, tls] channel in
                // On the connection's event loop, whose current context it takes and follows.
                channel.eventLoop.makeCompletedFuture {
                    guard let context = liveContext.current(on: channel.eventLoop)?.context else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    try channel.pipeline.syncOperations.addHandlers(
                        ClientPipeline.handlers(context: context, following: liveContext, tls: tls,
                                                headerTimeout: context.settings.headerTimeout,
                                                idleTimeout: context.settings.clientIdleTimeout))
                }
            },
            beforeAccepting: { [self] in
                // The predecessor stops accepting before this daemon starts to.
                if let predecessor { await release(predecessor) }
                predecessorReleased.reach(())
            },
            onListening: { [self] address in try await announce(listeningOn: address) })
        services.append(.init(service: StopReportingService(base: listener, stopped: listenerStopped)))
        // With no signal trapped (in-process tests) the reloader ends at once; the daemon goes on.
        services.append(.init(service: Reloader(hangups: hangups, reload: { [self] in _ = await reload() }),
                              successTerminationBehavior: .ignore))
        // Last, so the first to stop: a stopping daemon hands nothing over.
        services.append(.init(service: StopReportingService(base: ControlService(
            path: configuration.controlSocketPath, logger: logger, startsAfter: predecessorReleased,
            handlers: controlHandlers), stopped: controlStopped)))
        services.append(.init(service: SystemdService(notifier: notifier, eventLoops: group, handedOver: handedOver)))
        return services
    }

    /// The group that runs `services`: SIGTERM and SIGINT (`gracefulShutdownSignals`) stop it
    /// gracefully, and the grace period bounds that stop: when it is over the group cancels what
    /// still runs. No signal cancels outright (SIGINT is a graceful stop, as it always was).
    func serviceGroup(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: gracefulShutdownSignals,
                                              cancellationSignals: [], logger: logger)
        group.maximumGracefulShutdownDuration = .nanoseconds(configuration.gracePeriod.nanoseconds)
        let serviceGroup = ServiceGroup(configuration: group)
        runningGroup.withLock { $0 = serviceGroup }
        return serviceGroup
    }

    /// The traffic listener is bound: waits for the admin listener, records the start, starts the
    /// checks (the watcher follows `started`), and says so in the log and on standard output.
    private func announce(listeningOn address: SocketAddress) async throws {
        listening.reach(address)
        let admin = configuration.admin == nil ? nil : try await adminListening.value()
        // A socket the predecessor handed over that no listener here took (it had an admin port,
        // this daemon has none) closes now, or its port would stay bound and never answer.
        sockets.closeUnused()
        let saved = restored.saved
        let down = registry.all.filter { $0.currentHealth == .down }.map(\.url.text)
        let cleanStop = saved.lastStart.map { start in saved.lastCleanStop.map { $0 >= start } ?? false } ?? true
        // Taken over from a running daemon: its stop is this start, neither clean nor unclean.
        let previousStop = predecessor.map { "handover replaced_pid=\($0.pid)" }
            ?? (saved.lastStart == nil ? "first start" : cleanStop ? "clean" : "unclean")
        writer.recordStart(at: restored.startedAt, listen: localAddressDescription)
        // This instance's own view of each backend starts with what it restored or checked; later
        // changes are written as they happen (`EventSink.statusChange`).
        for backend in registry.all {
            writer.recordHealth(backendID: backend.id, health: backend.currentHealth, since: restored.startedAt)
        }
        let ageText = restored.stateAgeMilliseconds.map { "\($0 / 1000)s" } ?? "none"
        let differences = restored.differences
        // Records the last stop could not write, committed by the writer before the restore.
        let spillText = writer.recoveredFromSpill.map { recovered in
            "\(recovered.committed ? "spill_recovered" : "spill_pending")=\(recovered.records) "
                + "spilled_at=\(recovered.spilledAt.rfc3339)"
        }
        writer.record(Event(at: restored.startedAt, kind: .startup, detail: ([
            "listen=\(localAddressDescription)",
            "version=\(InstanceName.version)",
            "backends=\(registry.all.count)",
            // After a stale state the start's own check round decided: found down, not restored.
            "\(restored.path == "stale" ? "checked_down" : "restored_down")=\(down.isEmpty ? "none" : down.joined(separator: ","))",
            "cursor=\(saved.cursor)",
            "algorithm=\(configuration.balancing.algorithm.rawValue)",
            "previous_stop=\(previousStop)",
            "state=\(restored.path) state_age=\(ageText)",
            "config_differences=\(differences.isEmpty ? "none" : differences.map { "\($0.url):\($0.field):\($0.winner)" }.joined(separator: ","))",
        ] + (spillText.map { [$0] } ?? [])).joined(separator: " "), data: EventData(stateAgeMs: restored.stateAgeMilliseconds, path: restored.path,
                                                 differences: differences, replacedPID: predecessor.map { Int($0.pid) })))
        checker.track(registry.all)
        started.reach(())
        notifier.notify([("READY", "1"), ("MAINPID", String(getpid())), ("STATUS", statusLine)])
        logger.info("listening", metadata: [
            "address": "\(localAddressDescription)", "backends": "\(registry.all.count)",
            "database": "\(configuration.databasePath)", "threads": "\(max(1, configuration.threads))",
            "algorithm": "\(configuration.balancing.algorithm.rawValue)",
        ])
        // Printed once the service group runs, so its SIGTERM handling is in place by the time a
        // script that read this line can send one. Tests and scripts read the address from it.
        if let admin, let ip = admin.ipAddress, let port = admin.port {
            FileHandle.standardOutput.write(Data("lbserver admin listening on \(ip):\(port)\n".utf8))
        }
        FileHandle.standardOutput.write(Data("lbserver listening on \(localAddressDescription)\n".utf8))
    }

    /// What systemd shows as the service's status.
    var statusLine: String {
        "serving on \(localAddressDescription), \(registry.all.count) backend(s), database \(configuration.databasePath)"
    }

    var localAddressDescription: String {
        guard let address = listening.current, let ip = address.ipAddress, let port = address.port else {
            return "\(configuration.listenHost):\(configuration.listenPort)"
        }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    /// `/status` and `/`: built on demand from atomics and short locks, never the database.
    private func statusReport() -> StatusReport {
        let address = listening.current
        let listen = "\(address?.ipAddress ?? configuration.listenHost):\(address?.port ?? 0)"
        let statistics = writer.currentStatistics
        return StatusReport(
            listen: listen, version: InstanceName.version, startedAt: restored.startedAt.rfc3339,
            algorithm: lastLoaded.withLock { $0.balancing.algorithm.rawValue },
            openConnections: limiter.openConnections,
            database: .init(path: configuration.databasePath, writable: !statistics.isFailing,
                            lastError: statistics.lastError, eventsWritten: statistics.written,
                            eventsDropped: statistics.dropped, eventsQueued: statistics.pending,
                            failedBatches: statistics.failedBatches, walBytes: writer.walBytes),
            backends: registry.all.map(Self.backendStatus))
    }

    /// One backend's line of `/status`: its state, recent checks, last minute, and why it is down.
    private static func backendStatus(_ backend: BackendRuntime) -> StatusReport.BackendStatus {
        let health = backend.reportedHealth
        let now = NIODeadline.now()
        let lastMinute = backend.loadHistory.lastMinute(current: backend.stats.snapshot(), at: now.uptimeNanoseconds)
        func milliseconds(_ seconds: Double?) -> Double? { seconds.map { ($0 * 1_000_000).rounded() / 1000 } }
        func rate(_ value: Double) -> Double { (value * 100).rounded() / 100 }
        // The change that took it down; a later one to down (a restore) says since when itself.
        let down: StatusReport.Down? = health == .down ? backend.lastStatusChange.flatMap { change in
            change.health == .down
                ? StatusReport.Down(since: change.since.rfc3339, cause: change.cause.rawValue, detail: change.summary,
                                    sinceMilliseconds: change.since.milliseconds)
                : nil
        } : nil
        return .init(url: backend.url.text, health: health.rawValue, checked: backend.isChecked,
                     adminState: backend.adminState.rawValue, weight: backend.weight,
                     inFlight: backend.inFlight.load(ordering: .relaxed),
                     backup: backend.isBackup, maxConnections: backend.maxConnections,
                     ejectedUntil: backend.ejectedUntil.flatMap { until in
                         let left = until - now
                         guard left > .zero else { return nil }
                         return Timestamp(milliseconds: Timestamp.now().milliseconds + left.nanoseconds / 1_000_000).rfc3339
                     },
                     recentChecks: backend.recentChecks.checks.map { check in
                         .init(at: check.at.rfc3339, passed: check.passed,
                               latencyMs: (check.latencyMilliseconds * 1000).rounded() / 1000,
                               error: check.error, atMilliseconds: check.at.milliseconds)
                     },
                     lastMinute: lastMinute.map { minute in
                         .init(seconds: (minute.seconds * 10).rounded() / 10, requestsPerSecond: rate(minute.requestsPerSecond),
                               errorsPerSecond: rate(minute.errorsPerSecond),
                               p50Ms: milliseconds(minute.p50), p99Ms: milliseconds(minute.p99))
                     },
                     down: down)
    }
}
