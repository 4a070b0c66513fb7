import CSQLite
import Synchronization

/// The load balancer's database: the registry, the event log, the health history and the
/// balancer's own state. Every SQL statement of the project lives in this module.
///
/// A `Store` owns one connection and serialises its callers with a mutex, so it may be shared
/// across threads; its calls block on file I/O and must not run on an event loop. High-rate
/// writes from the daemon go through `EventWriter` instead, which owns a connection of its own.
public final class Store: Sendable {
    /// How `Store.init` treats the file.
    public enum OpenMode: Sendable {
        /// Create the file (owner-only permissions) and migrate it if needed.
        case create
        /// Open an existing file read-write, migrating it if needed; a missing file is an error.
        case existing
        /// Open an existing file read-only; a missing file is an error.
        case readOnly
    }

    public let path: String
    private let connection: Mutex<Connection>

    /// Opens the database at `path`. Throws `StoreError` naming the path and the problem.
    public init(path: String, mode: OpenMode = .create, busyTimeoutMilliseconds: Int32 = 5_000) throws {
        let connectionMode: Connection.Mode
        switch mode {
        case .create: connectionMode = .readWriteCreate
        case .existing: connectionMode = .readWrite
        case .readOnly: connectionMode = .readOnly
        }
        let connection = try Connection(path: path, mode: connectionMode,
                                        busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        try Migrator.prepare(connection)
        self.path = path
        self.connection = Mutex(connection)
    }

    /// Runs `body` with the connection while holding the lock.
    func withConnection<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        try connection.withLock { connection in
            defer { connection.releaseStatements() }
            return try body(connection)
        }
    }

    /// The schema version of the open file.
    public func schemaVersion() throws -> Int {
        try withConnection { Int(try $0.integerPragma("user_version")) }
    }

    /// A number that changes whenever another connection commits to the file
    /// (`PRAGMA data_version`); cheap enough to poll several times a second.
    public func dataVersion() throws -> Int64 {
        try withConnection { try $0.integerPragma("data_version") }
    }

    /// Runs `PRAGMA integrity_check` and returns its first line ("ok" when sound).
    public func integrityCheck() throws -> String {
        try withConnection { connection in
            let statement = try connection.statement("PRAGMA integrity_check")
            return try statement.step() ? statement.text(0) : "no answer"
        }
    }
}
