import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// One connection to a PostgreSQL server, behind the same `Connection` the SQLite engine serves,
/// through postgres-nio.
///
/// Its calls block until the server answers (each waits on a postgres-nio future), as SQLite's
/// block on the disk: like those they run on the CLI's thread, the daemon's thread pool or a
/// writer's own thread, never on an event loop or in an async context. A statement's rows come
/// whole on its first `step()`; queries here return small results, the event log pages by id.
final class PostgresStoreConnection: Connection {
    var dialect: SQLDialect { .postgres }
    let location: String
    let isReadOnly: Bool
    /// The server connection; a new one is made on the next use after the server closed it
    /// (a restart, a network cut), outside a transaction. Nil until the first use for a
    /// connection made with `connectingNow: false`.
    private var connection: PostgresConnection?
    private let configuration: PostgresConnection.Configuration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private(set) var changes = 0
    private var transactionDepth = 0

    /// Connects to `target` on `eventLoop`; throws a `StoreError` of one line that names the
    /// target (never its password) and says what failed.
    init(target: PostgresTarget, readOnly: Bool = false, eventLoop: any EventLoop, connectingNow: Bool = true,
         logger: Logger = Logger(label: "lb.store.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        location = target.description
        isReadOnly = readOnly
        self.logger = logger
        configuration = try Self.configuration(for: target)
        self.eventLoop = eventLoop
        if connectingNow { _ = try connected() }
    }

    /// postgres-nio's configuration for `target`: its socket or host, the password as the target
    /// finds it, TLS as its `sslmode` asks, its connect timeout.
    static func configuration(for target: PostgresTarget) throws -> PostgresConnection.Configuration {
        let password = try target.password()
        var configuration: PostgresConnection.Configuration
        if let directory = target.socketDirectory {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(target.port)", username: target.user,
                                  password: password, database: target.database)
        } else {
            configuration = .init(host: target.host ?? "localhost", port: target.port, username: target.user,
                                  password: password, database: target.database, tls: try Self.tls(for: target))
        }
        configuration.options.connectTimeout = .seconds(Int64(target.connectTimeoutSeconds))
        return configuration
    }

    /// The live connection, made anew when there is none or the server closed it.
    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        // A query written to a connection already closed is never answered (postgres-nio drops
        // the write): inside a transaction that died with it, the query fails at once.
        guard transactionDepth == 0 else {
            throw StoreError(.unreachable, "database \(location) closed the connection during a transaction")
        }
        let made = try Self.connect(configuration, on: eventLoop, logger: logger, location: location)
        connection = made
        if isReadOnly {
            _ = try made.query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", logger: logger).wait()
        }
        return made
    }

    private static func connect(_ configuration: PostgresConnection.Configuration, on eventLoop: any EventLoop,
                                logger: Logger, location: String) throws -> PostgresConnection {
        do {
            return try PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 1, logger: logger).wait()
        } catch {
            throw storeError(error, location: location, connecting: true)
        }
    }

    deinit {
        // Waited for: a close still pending when the process exits leaves NIO a promise it never
        // completes. Like every call here, the last release is on a thread that may block.
        try? connection?.close().wait()
    }

    private static func tls(for target: PostgresTarget) throws -> PostgresConnection.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch target.sslMode {
        case .disable: return .disable
        case .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let file = target.sslRootCertificate {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw StoreError(.invalidValue, "sslrootcert \(file) cannot be read as PEM certificates: \(error)")
            }
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw StoreError(.invalidValue, "TLS for \(target): \(error)")
        }
        return target.sslMode == .prefer ? .prefer(context) : .require(context)
    }

    // MARK: Connection

    func statement(_ sql: String) throws -> any Statement {
        PostgresStoreStatement(sql: Self.numberedParameters(sql), connection: self)
    }

    func execute(_ sql: String) throws {
        _ = try run(sql, binds: [])
    }

    func transaction<T>(_ body: () throws -> T) throws -> T {
        // A nested call joins the outer transaction, as the code that calls it expects its writes
        // to commit or roll back with the rest.
        if transactionDepth > 0 {
            return try body()
        }
        // Reconnected (if need be) before the transaction begins, never inside it.
        _ = try connected()
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        return try committing(begin: "BEGIN") {
            // One writer at a time, as SQLite's BEGIN IMMEDIATE has it: the queries read, decide
            // and write (a backend added unless present), which under READ COMMITTED alone two
            // daemons reconciling at once would both do.
            try execute(Self.writeLockSQL)
            return try body()
        }
    }

    /// The advisory lock every write transaction holds until it ends: "LBW1".
    static let writeLockKey: Int64 = 0x4C42_5731
    static let writeLockSQL = "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(\(writeLockKey))) AS locked"

    func releaseStatements() {}

    /// Runs `sql` (with `$n` parameters) and returns its rows as values.
    func run(_ sql: String, binds: [SQLValue]) throws -> [[SQLValue]] {
        let result = try query(Self.query(sql, binds: binds))
        return try result.rows.map { row in try row.map(Self.value(of:)) }
    }

    /// `sql` (with `$n` parameters) and its values, each sent untyped (`InferredParameter`).
    static func query(_ sql: String, binds: [SQLValue]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case .integer(let integer): bindings.append(InferredParameter(text: String(integer)))
            case .real(let real): bindings.append(InferredParameter(text: "\(real)"))
            case .text(let text): bindings.append(InferredParameter(text: text))
            }
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// Runs a statement that returns no rows; returns how many rows it changed.
    func run(_ statement: PostgresQuery) throws -> Int {
        _ = try query(statement)
        return changes
    }

    private func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
        let connection = try connected()
        let result = try answer(to: connection.query(query, logger: logger), on: connection)
        changes = result.metadata.rows ?? 0
        return result
    }

    /// Waits for `future`, at most `queryTimeout`; its failure as a `StoreError`.
    private func answer<T: Sendable>(to future: EventLoopFuture<T>, on connection: PostgresConnection) throws -> T {
        do {
            return try Self.bounded(future, by: Self.queryTimeout, on: eventLoop).wait()
        } catch {
            // Unanswered: given up, so that the next use connects anew.
            if (error as? StoreError)?.kind == .unreachable { connection.close().whenComplete { _ in } }
            throw Self.storeError(error, location: location, connecting: false)
        }
    }

    /// A transaction handed to the server whole: `send(transaction:)` queues its statements on
    /// the connection at once and returns, so the caller works on while the server writes;
    /// `wait(for:)` says how it ended.
    struct SentTransaction {
        fileprivate let answers: [EventLoopFuture<PostgresQueryResult>]
        fileprivate let connection: PostgresConnection
    }

    /// Queues BEGIN, the write lock, `statements` and COMMIT, without waiting for any answer.
    /// When a statement fails, PostgreSQL refuses the ones after it and answers the COMMIT with
    /// a rollback: the transaction stays whole or nothing. Not inside another transaction.
    func send(transaction statements: [PostgresQuery]) throws -> SentTransaction {
        precondition(transactionDepth == 0, "a sent transaction cannot join another")
        let connection = try connected()
        let all = [PostgresQuery(unsafeSQL: "BEGIN"), PostgresQuery(unsafeSQL: Self.writeLockSQL)] + statements
            + [PostgresQuery(unsafeSQL: "COMMIT")]
        return SentTransaction(answers: all.map { connection.query($0, logger: logger) }, connection: connection)
    }

    /// Waits until a sent transaction ended; throws the first statement's failure, if any (then
    /// nothing of it was committed).
    func wait(for sent: SentTransaction) throws {
        let outcomes = try answer(to: EventLoopFuture.whenAllComplete(sent.answers, on: eventLoop), on: sent.connection)
        for outcome in outcomes {
            if case .failure(let error) = outcome { throw Self.storeError(error, location: location, connecting: false) }
        }
    }

    /// The longest a query is waited for: past it the connection is given up (closed, so the
    /// next use makes a new one) and the call fails as `.unreachable`. A guard against a server
    /// or network that stops answering without closing; no query of ours takes this long.
    static let queryTimeout: TimeAmount = .seconds(60)

    private static func bounded<T: Sendable>(_ future: EventLoopFuture<T>, by timeout: TimeAmount,
                                             on eventLoop: any EventLoop) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(StoreError(.unreachable, "no answer within \(timeout.nanoseconds / 1_000_000_000) s"))
        }
        future.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return promise.futureResult
    }

    /// A cell as the value the `Statement` getters read: integers, reals, text (JSON included).
    private static func value(of cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
            case .float4, .float8: return .real(try cell.decode(Double.self))
            case .numeric:
                // sum() of bigints is a numeric: whole numbers come back as integers.
                let text = "\(try cell.decode(Decimal.self))"
                if let whole = Int64(text) { return .integer(whole) }
                return .real(Double(text) ?? 0)
            case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
            default: return .text(try cell.decode(String.self))
            }
        } catch {
            throw StoreError(.server, "cannot read a column of type \(cell.dataType) (\(cell.columnName)): \(error)")
        }
    }

    /// `sql` with its `?` parameters numbered `$1`, `$2`, … as PostgreSQL reads them; a `?`
    /// inside a quoted string or identifier stays as it is.
    static func numberedParameters(_ sql: String) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                result.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                result.append(character)
            } else if character == "?" {
                number += 1
                result += "$\(number)"
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// A postgres-nio error as a `StoreError` of one line an operator can act on.
    static func storeError(_ error: any Error, location: String, connecting: Bool) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let error = error as? PSQLError else {
            let kind: StoreError.Kind = connecting ? .unreachable : .server
            return StoreError(kind, "database \(location): \(Self.describe(error))")
        }
        if let info = error.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "error"
            switch state {
            case "28P01":
                return StoreError(.authentication, "database \(location): \(message) (check PGPASSWORD, the password_file or PGPASSFILE)")
            case "28000":
                // pg_hba.conf has no line for this client: its address, user, database or TLS.
                let hint = message.contains("no encryption")
                    ? "the server takes this client over TLS only: sslmode=require or verify-full"
                    : "the server's pg_hba.conf does not admit this user, database or address"
                return StoreError(.authentication, "database \(location): \(message) (\(hint))")
            case "3D000":
                return StoreError(.missing, "database \(location): \(message)")
            case "25006":
                return StoreError(.readOnly, "database \(location): \(message)")
            case "57P01", "57P02", "57P03", "08000", "08003", "08006":
                return StoreError(.unreachable, "database \(location): \(message)")
            default:
                return StoreError(.server, "database \(location): \(message) (SQLSTATE \(state))")
            }
        }
        switch error.code {
        case .authMechanismRequiresPassword:
            return StoreError(.authentication, "database \(location): the server asks for a password and none was given (PGPASSWORD, a password_file or PGPASSFILE)")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            let cause = error.underlying.map { Self.describe($0) } ?? "the connection was closed"
            return StoreError(.unreachable, "database \(location) cannot be reached: \(cause)")
        case .sslUnsupported:
            return StoreError(.unreachable, "database \(location) does not speak TLS, and the URL's sslmode asks for it")
        default:
            return StoreError(connecting ? .unreachable : .server, "database \(location): \(error.code)"
                              + (error.underlying.map { ": \(Self.describe($0))" } ?? ""))
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return error.description }
        if let error = error as? NIOSSLError, case .handshakeFailed(let reason) = error {
            let text = "\(reason)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "the server's TLS certificate was not accepted (CERTIFICATE_VERIFY_FAILED): check sslrootcert, "
                    + "and that the certificate names the URL's host"
            }
            return "the TLS handshake failed: \(text)"
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "connection timed out" }
        return "\(error)"
    }
}

/// A statement on a `PostgresStoreConnection`: bound values, then every row at the first `step()`.
final class PostgresStoreStatement: Statement {
    private let sql: String
    private unowned let connection: PostgresStoreConnection
    private var binds: [SQLValue] = []
    private var rows: [[SQLValue]]?
    private var index = -1

    init(sql: String, connection: PostgresStoreConnection) {
        self.sql = sql
        self.connection = connection
    }

    @discardableResult
    func bind(_ values: [SQLValue]) throws -> any Statement {
        binds = values
        rows = nil
        index = -1
        return self
    }

    func step() throws -> Bool {
        if rows == nil { rows = try connection.run(sql, binds: binds) }
        index += 1
        return index < rows!.count
    }

    func reset() {
        rows = nil
        index = -1
    }

    private func value(_ column: Int32) -> SQLValue {
        guard let rows, index < rows.count, Int(column) < rows[index].count else { return .null }
        return rows[index][Int(column)]
    }

    func isNull(_ column: Int32) -> Bool { value(column) == .null }

    func int64(_ column: Int32) -> Int64 {
        switch value(column) {
        case .integer(let integer): integer
        case .real(let real): Int64(real)
        case .text(let text): Int64(text) ?? 0
        case .null: 0
        }
    }

    func double(_ column: Int32) -> Double {
        switch value(column) {
        case .integer(let integer): Double(integer)
        case .real(let real): real
        case .text(let text): Double(text) ?? 0
        case .null: 0
        }
    }

    func text(_ column: Int32) -> String {
        switch value(column) {
        case .integer(let integer): String(integer)
        case .real(let real): String(real)
        case .text(let text): text
        case .null: ""
        }
    }
}

/// A parameter sent as text with no type, so that the server gives it the type of where it
/// stands, as it does for a literal: `at >= $1` reads a bigint, `substr(detail, 1, $2)` an
/// integer, `data` a jsonb. One SQL text then serves both engines without casts.
private struct InferredParameter: PostgresDynamicTypeEncodable {
    let text: String
    var psqlType: PostgresDataType { .null }
    var psqlFormat: PostgresFormat { .text }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer,
                                                  context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeString(text)
    }
}
