import CSQLite
import NIOPosix
import Synchronization

/// The load balancer's database: the registry, the event log, the health history and the
/// balancer's own state, in an SQLite file or on a PostgreSQL server (`StoreLocation`). Every SQL
/// statement of the project lives in this module.
///
/// A `Store` owns one connection and serialises its callers with a mutex, so it may be shared
/// across threads; its calls block on I/O and must not run on an event loop. High-rate writes
/// from the daemon go through `EventWriter` instead, which owns a connection of its own.
public final class Store: Sendable {
    /// How `Store.init` treats the database.
    public enum OpenMode: Sendable {
        /// Create the file (owner-only permissions) or the schema, migrating it if needed.
        case create
        /// Open an existing database read-write, migrating it if needed; a missing file is an error.
        case existing
        /// Open an existing database read-only; a missing file is an error.
        case readOnly
    }

    public let location: StoreLocation
    /// The SQLite file's path, or the PostgreSQL URL (without a password), for messages.
    public var path: String { location.description }
    private let connection: Mutex<any Connection>

    /// Opens the SQLite database at `path`. Throws `StoreError` naming the path and the problem.
    public convenience init(path: String, mode: OpenMode = .create, busyTimeoutMilliseconds: Int32 = 5_000) throws {
        try self.init(location: .file(path), mode: mode, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
    }

    /// Opens the database at `location`: an SQLite file, or a PostgreSQL database, whose schema is
    /// created or migrated unless `mode` is `.readOnly`. Throws `StoreError` naming the location
    /// (never a password) and the problem.
    ///
    /// With `connectingLater`, a PostgreSQL store is made without reaching the server: it connects
    /// on its first call, and again after every failure, and checks no schema (for a daemon that
    /// starts from its outbox while PostgreSQL is away; its schema was there when the outbox was).
    public init(location: StoreLocation, mode: OpenMode = .create, busyTimeoutMilliseconds: Int32 = 5_000,
                connectingLater: Bool = false) throws {
        switch location {
        case .file(let path):
            let connectionMode: SQLiteConnection.Mode
            switch mode {
            case .create: connectionMode = .readWriteCreate
            case .existing: connectionMode = .readWrite
            case .readOnly: connectionMode = .readOnly
            }
            let connection = try SQLiteConnection(path: path, mode: connectionMode,
                                                  busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            try Migrator.prepare(connection)
            self.connection = Mutex(connection)
        case .postgres(let target):
            let connection = try PostgresStoreConnection(target: target, readOnly: mode == .readOnly,
                                                         eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                                                         connectingNow: !connectingLater)
            if !connectingLater { try PostgresMigrator.prepare(connection, creating: mode == .create) }
            self.connection = Mutex(connection)
        }
        self.location = location
    }

    /// The SQL the connection reads, where the engines differ.
    var dialect: SQLDialect {
        if case .file = location { return .sqlite }
        return .postgres
    }

    /// Runs `body` with the connection while holding the lock.
    func withConnection<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        try connection.withLock { connection in
            defer { connection.releaseStatements() }
            return try body(connection)
        }
    }

    /// The schema version of the open database.
    public func schemaVersion() throws -> Int {
        try withConnection { connection in
            switch connection.dialect {
            case .sqlite: return Int(try (connection as! SQLiteConnection).integerPragma("user_version"))
            case .postgres:
                let statement = try connection.statement("SELECT version FROM lb_schema WHERE id = 1")
                return try statement.step() ? statement.int(0) : 0
            }
        }
    }

    /// A number that changes whenever another connection commits to the file
    /// (`PRAGMA data_version`); cheap enough to poll several times a second. On PostgreSQL, the
    /// registry's version, which is what a poller of the registry wants to see move.
    public func dataVersion() throws -> Int64 {
        try withConnection { connection in
            switch connection.dialect {
            case .sqlite: return try (connection as! SQLiteConnection).integerPragma("data_version")
            case .postgres:
                let statement = try connection.statement("SELECT registry_version FROM balancer_state WHERE id = 1")
                return try statement.step() ? statement.int64(0) : 0
            }
        }
    }

    /// Checks the database's integrity and returns the first line of the answer ("ok" when sound):
    /// SQLite's `PRAGMA integrity_check`; on PostgreSQL, whose server guards its own pages, that
    /// the schema is there.
    public func integrityCheck() throws -> String {
        try withConnection { connection in
            switch connection.dialect {
            case .sqlite:
                let statement = try connection.statement("PRAGMA integrity_check")
                return try statement.step() ? statement.text(0) : "no answer"
            case .postgres:
                let statement = try connection.statement("SELECT count(*) FROM lb_schema")
                return try statement.step() && statement.int64(0) == 1 ? "ok" : "lb_schema is empty"
            }
        }
    }
}
