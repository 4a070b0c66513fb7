import Atomics
import Foundation
import LBStore
import Logging

/// Notices changes that another process (`lbctl`) commits to the registry and applies them to
/// the running daemon; also saves the round-robin cursor when it moved.
///
/// Runs on a thread of its own because every call here is blocking SQLite I/O.
final class RegistryWatcher: Sendable {
    private let store: Store
    private let registry: BackendRegistry
    private let writer: EventWriter
    private let logger: Logger
    private let pollInterval: Double
    private let onChange: @Sendable (BackendRegistry.Changes) -> Void
    private let stopped = ManagedAtomic<Bool>(false)
    private let finished = ManagedAtomic<Bool>(false)

    init(store: Store, registry: BackendRegistry, writer: EventWriter, logger: Logger, pollInterval: Double,
         onChange: @escaping @Sendable (BackendRegistry.Changes) -> Void) {
        self.store = store
        self.registry = registry
        self.writer = writer
        self.logger = logger
        self.pollInterval = pollInterval
        self.onChange = onChange
    }

    func start(registryVersion: Int64, cursor: Int) {
        let thread = Thread { [self] in run(registryVersion: registryVersion, cursor: cursor) }
        thread.name = "lb-registry-watcher"
        thread.start()
    }

    /// Asks the thread to stop and waits (bounded) until it has.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        let deadline = Date().addingTimeInterval(2)
        while !finished.load(ordering: .relaxed) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    private func run(registryVersion: Int64, cursor: Int) {
        logger.debug("registry watcher started")
        var knownDataVersion: Int64 = (try? store.dataVersion()) ?? 0
        var knownRegistryVersion = registryVersion
        var savedCursor = cursor
        var lastHeartbeat = Date()
        var lastCursorCheck = Date()
        var lastErrorLog = Date.distantPast
        while !stopped.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: pollInterval)
            do {
                // data_version moves on any commit by another connection, our writer's included;
                // registry_version tells whether it was a change we must apply.
                let dataVersion = try store.dataVersion()
                if dataVersion != knownDataVersion {
                    knownDataVersion = dataVersion
                    let version = try store.registryVersion()
                    if version != knownRegistryVersion {
                        knownRegistryVersion = version
                        let changes = registry.apply(try store.backends())
                        if !changes.isEmpty { onChange(changes) }
                    }
                }
            } catch {
                if Date().timeIntervalSince(lastErrorLog) >= 60 {
                    lastErrorLog = Date()
                    logger.error("cannot read the registry; serving the backends already known",
                                 metadata: ["error": "\(error)"])
                }
            }
            if Date().timeIntervalSince(lastCursorCheck) >= 1 {
                lastCursorCheck = Date()
                if let cursor = registry.balancer.cursorToSave, cursor != savedCursor {
                    savedCursor = cursor
                    writer.recordCursor(Int64(cursor))
                    lastHeartbeat = Date()
                    logger.trace("cursor saved", metadata: ["cursor": "\(cursor)"])
                }
            }
            // The saved state's age is read from saved_at at the next start: keep it fresh while
            // running, so only a long stop makes it stale.
            if Date().timeIntervalSince(lastHeartbeat) >= 5 {
                lastHeartbeat = Date()
                writer.recordHeartbeat()
            }
        }
        finished.store(true, ordering: .relaxed)
    }
}
