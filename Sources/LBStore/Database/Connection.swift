/// What the queries need of a database connection, whichever engine holds the data.
///
/// Two engines implement it: `SQLiteConnection` (a file, the embedded default) and
/// `PostgresStoreConnection` (a server, for a fleet). SQL is written once with `?` parameters in
/// the subset both engines read alike; where they differ, a query asks `dialect`. A connection is
/// not thread-safe: one owner uses it at a time, and its calls block on I/O, so they never run on
/// an event loop or in an async context.
protocol Connection: AnyObject {
    var dialect: SQLDialect { get }
    /// Where the data is, as an operator would name it: a path, or a URL without its password.
    var location: String { get }
    var isReadOnly: Bool { get }

    /// A statement for `sql` (with `?` parameters), ready to bind.
    func statement(_ sql: String) throws -> any Statement
    /// Runs one or more statements that take no parameters (schema).
    func execute(_ sql: String) throws
    /// Runs `body` in one transaction that takes the write lock at once, rolling back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T
    /// Ends every statement handed out since the last call, so none keeps a read open.
    func releaseStatements()
    /// Rows changed by the last statement that wrote.
    var changes: Int { get }
}

/// A statement: bind its parameters, then step through its rows and read their columns.
protocol Statement: AnyObject {
    /// Binds `values` to parameters 1...n in order.
    @discardableResult
    func bind(_ values: [SQLValue]) throws -> any Statement
    /// Advances one row; true while a row is available. The first call runs the statement.
    func step() throws -> Bool
    /// Makes the statement ready to bind and run again.
    func reset()

    func isNull(_ column: Int32) -> Bool
    func int64(_ column: Int32) -> Int64
    func double(_ column: Int32) -> Double
    func text(_ column: Int32) -> String
}

extension Connection {
    /// Runs `begin`, then `body`, then `COMMIT`; `ROLLBACK` instead if `body` throws.
    func committing<T>(begin: String, _ body: () throws -> T) throws -> T {
        try execute(begin)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

extension Statement {
    @discardableResult
    func bind(_ values: SQLValue...) throws -> any Statement {
        try bind(values)
    }

    /// Runs a statement that returns no rows.
    func run() throws {
        while try step() {}
    }

    func int(_ column: Int32) -> Int { Int(int64(column)) }
    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }
}

/// The SQL an engine reads, where the two differ.
enum SQLDialect: Sendable {
    case sqlite
    case postgres
}

/// A value bound to a statement parameter.
enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    static func optional(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
    static func optional(_ value: Int64?) -> SQLValue { value.map { .integer($0) } ?? .null }
    static func optional(_ value: Double?) -> SQLValue { value.map { .real($0) } ?? .null }
}
