import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe: exactly one owner uses it at a time (the writer thread, or a `Store` that
/// guards it with a mutex).
final class SQLiteConnection: Connection {
    var dialect: SQLDialect { .sqlite }
    var location: String { path }
    var isReadOnly: Bool { mode == .readOnly }

    /// How the file is opened.
    enum Mode: Sendable {
        /// Read and write; the file is created (owner-only permissions) when missing.
        case readWriteCreate
        /// Read and write; a missing file is an error.
        case readWrite
        /// Read only; a missing file is an error.
        case readOnly
    }

    let path: String
    let mode: Mode
    private(set) var handle: OpaquePointer?
    /// A private copy of a read-only database and its write-ahead log, removed on close.
    private var scratchFolder: String?
    private var statements: [String: SQLiteStatement] = [:]
    /// Statements handed out since the last `releaseStatements()`.
    private var inUse: [SQLiteStatement] = []

    /// Opens `path`; throws a `StoreError` that names the path when it cannot be opened.
    init(path: String, mode: Mode, busyTimeoutMilliseconds: Int32 = 5_000) throws {
        self.path = path
        self.mode = mode
        try Self.checkPath(path, mode: mode)
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch mode {
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        // A WAL database on read-only media (a mounted backup) cannot be read the usual way:
        // SQLite wants to create its `-shm` index beside it. With none there and no way to make
        // one, it is opened as immutable: nothing can change it anyway.
        // When it has a write-ahead log with records not yet in the file, immutable would not
        // read them: the file and its log are read from a private copy instead.
        var name = path
        if mode == .readOnly && Self.cannotCreateBeside(path) && access(path + "-shm", F_OK) != 0 {
            if Self.size(of: path + "-wal") > 0 {
                let copy = try Self.privateCopy(of: path)
                scratchFolder = copy.folder
                name = copy.path
            } else {
                name = "file:\(Self.uriEscaped(path))?immutable=1"
                flags |= SQLITE_OPEN_URI
            }
        }
        // The database holds the control plane: create it readable by its owner only.
        let oldMask = umask(0o077)
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(name, &db, flags, nil)
        umask(oldMask)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw StoreError(StoreError.kind(forSQLiteCode: rc),
                             "cannot open database \(path): \(message)", code: rc)
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        close()
    }

    /// Finalizes every cached statement and closes the handle; safe to call twice.
    func close() {
        for statement in statements.values { statement.finalize() }
        statements.removeAll()
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
        if let scratchFolder {
            for suffix in ["", "-wal", "-shm"] { unlink(scratchFolder + "/lb.sqlite3" + suffix) }
            rmdir(scratchFolder)
            self.scratchFolder = nil
        }
    }

    private static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Copies `path` and its `-wal` into a new private folder under the temporary directory.
    private static func privateCopy(of path: String) throws -> (folder: String, path: String) {
        let base = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/lb-readonly-XXXXXX"
        var template = Array(base.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw StoreError(.readOnly, "cannot read database \(path) on read-only media: no folder for a copy of it "
                             + "and its write-ahead log")
        }
        let folder = String(cString: made)
        let copy = folder + "/lb.sqlite3"
        for suffix in ["", "-wal"] {
            guard copyFile(path + suffix, to: copy + suffix) else {
                for made in ["", "-wal"] { unlink(copy + made) }
                rmdir(folder)
                throw StoreError(.readOnly, "cannot read database \(path) on read-only media: copying it and its "
                                 + "write-ahead log to \(folder) failed")
            }
        }
        return (folder, copy)
    }

    private static func copyFile(_ source: String, to destination: String) -> Bool {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return false }
        defer { Glibc.close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { return false }
        defer { Glibc.close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(input, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return false }
            if count == 0 { return true }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, count - offset) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return false }
                offset += written
            }
        }
    }

    /// Whether no file can be made in `path`'s folder (a read-only file system, or no permission).
    private static func cannotCreateBeside(_ path: String) -> Bool {
        access(folder(of: path), W_OK) != 0
    }

    private static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Whether `path` lies on a file system mounted read-only.
    private static func onReadOnlyFileSystem(_ path: String) -> Bool {
        var info = statvfs()
        return statvfs(folder(of: path), &info) == 0 && (info.f_flag & UInt(ST_RDONLY)) != 0
    }

    /// `path` as the path of a `file:` URI: `%`, `?` and `#` escaped.
    private static func uriEscaped(_ path: String) -> String {
        var escaped = ""
        for character in path {
            switch character {
            case "%": escaped += "%25"
            case "?": escaped += "%3f"
            case "#": escaped += "%23"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static func checkPath(_ path: String, mode: Mode) throws {
        // Writing needs the folder too: SQLite keeps its `-wal` and `-shm` files beside the database.
        if mode != .readOnly && onReadOnlyFileSystem(path) {
            throw StoreError(.readOnly, "database \(path) is on a read-only file system; it can be read "
                             + "(lbctl's read commands) but not written")
        }
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw StoreError(.isDirectory, "database path \(path) is a directory, not a file")
            }
            // A file with no write bit is read-only by the operator's intent, even to root,
            // whom the kernel would let write it anyway.
            if mode != .readOnly && (info.st_mode & 0o222) == 0 {
                throw StoreError(.readOnly, "database \(path) is read-only (no write permission)")
            }
        } else if mode != .readWriteCreate {
            throw StoreError(.missing, "database \(path) does not exist")
        }
    }

    /// Runs one or more statements that take no parameters (schema, pragmas).
    func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw error(rc, message)
        }
    }

    /// A cached prepared statement for `sql`, reset and with its bindings cleared.
    func statement(_ sql: String) throws -> any Statement {
        try sqliteStatement(sql)
    }

    /// The cached statement for `sql` as SQLite's own type, for the writer's indexed binds.
    func sqliteStatement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            if !cached.isInUse {
                cached.isInUse = true
                inUse.append(cached)
            }
            return cached
        }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else {
            throw error(rc, lastErrorMessage)
        }
        let statement = SQLiteStatement(raw: raw, connection: self)
        statements[sql] = statement
        statement.isInUse = true
        inUse.append(statement)
        return statement
    }

    /// Resets every statement handed out since the last call, so none keeps a read
    /// transaction (and with it an old snapshot of the file) open after its caller is done.
    func releaseStatements() {
        for statement in inUse {
            statement.reset()
            statement.isInUse = false
        }
        inUse.removeAll(keepingCapacity: true)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        releaseStatements()
        defer { releaseStatements() }
        return try committing(begin: "BEGIN IMMEDIATE", body)
    }

    /// The value of a pragma that returns one integer.
    func integerPragma(_ name: String) throws -> Int64 {
        let statement = try sqliteStatement("PRAGMA \(name)")
        defer { statement.reset() }
        guard try statement.step() else { return 0 }
        return statement.int64(0)
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    var changes: Int { Int(sqlite3_changes(handle)) }
    var lastErrorMessage: String { handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed" }

    func error(_ code: Int32, _ message: String) -> StoreError {
        StoreError(StoreError.kind(forSQLiteCode: code), "\(path): \(message)", code: code)
    }
}
