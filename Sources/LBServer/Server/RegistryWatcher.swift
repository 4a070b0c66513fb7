import LBStore
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Notices changes that another process (`lbctl`) commits to the registry and applies them to
/// the running daemon; also saves the round-robin cursor when it moved, and keeps the saved
/// state's time current. A Service: it starts polling once the start is recorded and stops at the
/// graceful shutdown (or cancellation), between two polls.
///
/// Every poll is blocking I/O, so it runs on the thread pool; between polls the task sleeps. On
/// PostgreSQL the registry's notifications wake it at once: a change made with `lbctl` reaches
/// every instance of a fleet without waiting for the next poll, which stays as the fallback.
final class RegistryWatcher: Service, Sendable {
    private let store: Store
    /// With PostgreSQL: the outbox, whose copy of the registry follows every change.
    private let snapshot: Store?
    /// With PostgreSQL: word that the registry changed, which rings the doorbell.
    private let notifications: RegistryNotifications?
    private let doorbell = Doorbell()
    private let registry: BackendRegistry
    private let writer: EventWriter
    private let logger: Logger
    /// Replaced by a reload (`setPollInterval`); counts from the next wait.
    var pollInterval: Duration { .nanoseconds(pollNanoseconds.load(ordering: .relaxed)) }
    private let pollNanoseconds: Atomic<Int64>
    private let registryVersion: Int64
    private let cursor: Int
    private let started: Milestone<Void>
    private let threadPool: NIOThreadPool
    private let onChange: @Sendable (BackendRegistry.Changes) -> Void

    /// What a poll knows of the database: the versions seen last.
    private struct Versions: Sendable {
        var data: Int64
        var registry: Int64
    }

    /// `registryVersion` and `cursor` are what the daemon restored; `started` is the milestone
    /// after which the watcher polls. `onChange` is called on a thread-pool thread.
    init(store: Store, snapshot: Store? = nil, notifications: RegistryNotifications? = nil, registry: BackendRegistry, writer: EventWriter, logger: Logger, pollInterval: Duration,
         registryVersion: Int64, cursor: Int, startsAfter started: Milestone<Void>,
         threadPool: NIOThreadPool = .singleton,
         onChange: @escaping @Sendable (BackendRegistry.Changes) -> Void) {
        self.store = store
        self.snapshot = snapshot
        self.notifications = notifications
        self.registry = registry
        self.writer = writer
        self.logger = logger
        pollNanoseconds = Atomic(Self.nanoseconds(pollInterval))
        self.registryVersion = registryVersion
        self.cursor = cursor
        self.started = started
        self.threadPool = threadPool
        self.onChange = onChange
    }

    func run() async {
        // Cancelled at the shutdown request: the wait for the start or the sleep between polls
        // ends at once, a poll already on the thread pool is finished first.
        await cancellingAtShutdownRequest { [self] in
            guard (try? await started.value()) != nil else { return }
            await withTaskGroup(of: Void.self) { group in
                if let notifications {
                    group.addTask { [doorbell] in await notifications.run { doorbell.ring() } }
                }
                try? await pollUntilCancelled()
                group.cancelAll()
            }
        }
    }

    private func pollUntilCancelled() async throws {
        logger.debug("registry watcher started")
        let store = self.store
        var versions = Versions(data: (try? await threadPool.runIfActive { try store.dataVersion() }) ?? 0,
                                registry: registryVersion)
        var savedCursor = cursor
        let clock = ContinuousClock()
        var lastHeartbeat = clock.now
        var lastCursorCheck = clock.now
        var lastErrorLog: ContinuousClock.Instant?
        while true {
            await doorbell.wait(upTo: self.pollInterval)
            try Task.checkCancellation()
            let known = versions
            do {
                versions = try await threadPool.runIfActive { [self] in try poll(known) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if lastErrorLog.map({ clock.now - $0 >= .seconds(60) }) ?? true {
                    lastErrorLog = clock.now
                    logger.error("cannot read the registry; serving the backends already known",
                                 metadata: ["error": "\(error)"])
                }
            }
            if clock.now - lastCursorCheck >= .seconds(1) {
                lastCursorCheck = clock.now
                if let cursor = registry.balancer.cursorToSave, cursor != savedCursor {
                    savedCursor = cursor
                    writer.recordCursor(Int64(cursor))
                    lastHeartbeat = clock.now
                    logger.trace("cursor saved", metadata: ["cursor": "\(cursor)"])
                }
            }
            // The saved state's age is read from saved_at at the next start: keep it fresh while
            // running, so only a long stop makes it stale.
            if clock.now - lastHeartbeat >= .seconds(5) {
                lastHeartbeat = clock.now
                writer.recordHeartbeat()
            }
        }
    }

    /// One look at the database; applies a registry change. On a thread-pool thread.
    private func poll(_ known: Versions) throws -> Versions {
        var versions = known
        // data_version moves on any commit by another connection, our writer's included;
        // registry_version tells whether it was a change we must apply.
        let dataVersion = try store.dataVersion()
        guard dataVersion != known.data else { return versions }
        versions.data = dataVersion
        let version = try store.registryVersion()
        guard version != known.registry else { return versions }
        versions.registry = version
        let records = try store.backends()
        try snapshot?.snapshotRegistry(records)
        let changes = registry.apply(records)
        if !changes.isEmpty { onChange(changes) }
        return versions
    }
}

extension RegistryWatcher {
    func setPollInterval(_ interval: Duration) { pollNanoseconds.store(Self.nanoseconds(interval), ordering: .relaxed) }

    fileprivate static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
