import Foundation
import LBStore
import Logging

extension LoadBalancer {
    /// Opens the database the configuration names and reads what a start restores. On the thread
    /// pool: every call here blocks on I/O.
    ///
    /// With an SQLite file the store, the writer and the restored state are that file's. With a
    /// PostgreSQL database (a fleet), the registry is PostgreSQL's (reconciled there), while the
    /// daemon records into its local outbox, a file of its own that also keeps a copy of the
    /// registry and this instance's own state (health, cursor, start and stop): a restart restores
    /// from it, and the `OutboxForwarder` sends its records on to PostgreSQL.
    static func openStores(_ configuration: ServerConfiguration, reporter: StoreErrorReporter,
                           logger: Logger) throws -> Opened {
        let location: StoreLocation
        do {
            location = try StoreLocation(parsing: configuration.databasePath)
        } catch {
            throw StartupError(.database, "\(error.message)")
        }
        let identity = InstanceIdentity(name: configuration.instanceName, host: InstanceName.hostDefault,
                                        pid: Int(getpid()), listen: configuration.listen.description,
                                        version: InstanceName.version)
        switch location {
        case .file(let path):
            let store = try database(path) { try Store(path: path, mode: .create) }
            let differences = try database(path) { try reconcile(configuration, into: store) }
            // The start is after the configuration was reconciled, as the log tells it.
            let startedAt = Timestamp.now()
            // The writer first: it commits what the last stop spilled before the state is read.
            let writer = try writing(path) { try EventWriter(path: path, instance: identity, onError: { reporter.report($0) }) }
            let (saved, records, version) = try restoring(path) {
                (try store.balancerState(), try store.backends(), try store.registryVersion())
            }
            return Opened(store: store, writer: writer, outbox: nil, forwarder: nil, saved: saved, records: records,
                          registryVersion: version, differences: differences, startedAt: startedAt,
                          registryFromOutbox: false)
        case .postgres(let target):
            let name = target.description
            let outboxPath = configuration.outboxFile
            let fleet: Store, differences: [ConfigDifference], version: Int64, outbox: Store
            do {
                let reached = try Store(location: location, mode: .create)
                let reconciled = try reconcile(configuration, into: reached)
                let local = try database(outboxPath) { try Store(path: outboxPath, mode: .create) }
                try local.snapshotRegistry(try reached.backends(includeRemoved: true))
                (fleet, differences, version, outbox) = (reached, reconciled, try reached.registryVersion(), local)
            } catch let error as StoreError where error.kind == .unreachable {
                // PostgreSQL is away: start from the registry the outbox kept, if there is one;
                // the watcher follows PostgreSQL's once it answers.
                guard FileManager.default.fileExists(atPath: outboxPath),
                      let kept = try? Store(path: outboxPath, mode: .existing),
                      let backends = try? kept.backends(includeRemoved: true), !backends.isEmpty else {
                    throw StartupError(.database, "cannot reach \(name) and there is no outbox (\(outboxPath)) "
                                       + "with a registry to start from: \(error.message)")
                }
                let later = try database(name) { try Store(location: location, mode: .existing, connectingLater: true) }
                // Version unknown (-1): the first poll that reaches PostgreSQL applies its registry.
                (fleet, differences, version, outbox) = (later, [], -1, kept)
            } catch let error as StartupError {
                throw error
            } catch {
                throw StartupError(.database, "cannot use database \(name): \((error as? StoreError)?.message ?? "\(error)")")
            }
            let startedAt = Timestamp.now()
            // The writer first: it commits what the last stop spilled before the state is read.
            let writer = try writing(outboxPath) {
                try EventWriter(path: outboxPath, instance: identity, onError: { reporter.report($0) })
            }
            // The registry as the fleet has it, each backend's health as this instance last saw it.
            let (saved, records) = try restoring(outboxPath) { (try outbox.balancerState(), try outbox.backends()) }
            let forwarder = try writing(outboxPath) {
                try OutboxForwarder(outbox: outboxPath, target: target, instance: identity.name)
            }
            return Opened(store: fleet, writer: writer, outbox: outbox, forwarder: forwarder, saved: saved,
                          records: records, registryVersion: version, differences: differences, startedAt: startedAt,
                          registryFromOutbox: version < 0,
                          notifications: try? RegistryNotifications(target: target, logger: logger))
        }
    }

    /// A configuration that declares no backends leaves the registry as it is: a restart with no
    /// --backends serves what the database holds.
    private static func reconcile(_ configuration: ServerConfiguration, into store: Store) throws -> [ConfigDifference] {
        configuration.backends.isEmpty ? [] : try store.reconcile(declared: configuration.declaredBackends,
                                                                  instance: configuration.instanceName)
    }

    private static func database<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try failing(body) { "cannot use database \(name): \($0)" }
    }

    private static func restoring<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try failing(body) { "cannot read database \(name): \($0)" }
    }

    private static func writing<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try failing(body) { "cannot write database \(name): \($0)" }
    }

    private static func failing<T>(_ body: () throws -> T, _ message: (String) -> String) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw StartupError(.database, message(error.message))
        } catch let error as StartupError {
            throw error
        } catch {
            throw StartupError(.database, message("\(error)"))
        }
    }
}
