import CSQLite

/// SQLite's "copy this buffer now" destructor, which C spells `SQLITE_TRANSIENT`.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement owned by a `SQLiteConnection`; values are always bound, never spliced.
final class SQLiteStatement: Statement {
    fileprivate let raw: OpaquePointer
    fileprivate unowned let connection: SQLiteConnection
    /// Whether the connection has handed it out since its last `releaseStatements()`.
    var isInUse = false

    init(raw: OpaquePointer, connection: SQLiteConnection) {
        self.raw = raw
        self.connection = connection
    }

    func finalize() { sqlite3_finalize(raw) }

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    @discardableResult
    func bind(_ values: [SQLValue]) throws -> any Statement {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(raw, index)
            case .integer(let v): rc = sqlite3_bind_int64(raw, index, v)
            case .real(let v): rc = sqlite3_bind_double(raw, index, v)
            case .text(let v): rc = sqlite3_bind_text(raw, index, v, -1, transient)
            }
            if rc != SQLITE_OK { throw connection.error(rc, connection.lastErrorMessage) }
        }
        return self
    }

    /// Advances one row; true while a row is available.
    func step() throws -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = connection.lastErrorMessage
            sqlite3_reset(raw)
            throw connection.error(rc, message)
        }
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }

    /// The column as the value of its stored type, for copying a row as it is.
    func value(_ column: Int32) -> SQLValue {
        switch sqlite3_column_type(raw, column) {
        case SQLITE_NULL: .null
        case SQLITE_INTEGER: .integer(int64(column))
        case SQLITE_FLOAT: .real(double(column))
        default: .text(text(column))
        }
    }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(raw, column) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(raw, column) else { return "" }
        return String(cString: pointer)
    }
}

extension SQLiteStatement {
    /// Binds one parameter without building a value array; for the writer's hot insert.
    func bind(_ index: Int32, _ value: Int64?) throws {
        let rc = value.map { sqlite3_bind_int64(raw, index, $0) } ?? sqlite3_bind_null(raw, index)
        if rc != SQLITE_OK { throw connection.error(rc, connection.lastErrorMessage) }
    }

    func bind(_ index: Int32, _ value: String?) throws {
        let rc = value.map { sqlite3_bind_text(raw, index, $0, -1, transient) } ?? sqlite3_bind_null(raw, index)
        if rc != SQLITE_OK { throw connection.error(rc, connection.lastErrorMessage) }
    }
}
