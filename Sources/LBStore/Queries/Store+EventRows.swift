import CSQLite

extension Store {
    /// The columns every event read selects, in the order `event(from:)` decodes them; the query
    /// must join `backends b` for the URL.
    static let eventSelectColumns =
        "e.id, e.at, e.kind, e.backend_id, b.url, e.request_id, e.attempt, e.detail, e.data, e.count, e.instance"

    /// Decodes one row selected with `eventSelectColumns`.
    static func event(from statement: Statement) -> Event {
        Event(id: statement.int64(0), at: Timestamp(milliseconds: statement.int64(1)),
              kind: EventKind(rawValue: statement.text(2)) ?? .failure,
              backendID: statement.optionalInt64(3), backendURL: statement.optionalText(4),
              requestID: statement.optionalText(5),
              attempt: statement.optionalInt64(6).map { Int($0) },
              detail: statement.optionalText(7),
              data: statement.optionalText(8).flatMap(EventData.init(json:)),
              count: max(1, statement.int(9)),
              instance: statement.optionalText(10))
    }

    /// The conditions on `query`'s backend and kinds over `events e`, with their values in order.
    /// With `indexed` false the columns are written `+e.column`, which keeps SQLite from choosing
    /// their indexes (PostgreSQL's planner needs no such hint, and has no `+` for text).
    static func backendAndKindClauses(of query: EventQuery, indexed: Bool,
                                      dialect: SQLDialect) -> (clauses: [String], values: [SQLValue]) {
        let prefix = indexed || dialect == .postgres ? "e." : "+e."
        var clauses: [String] = []
        var values: [SQLValue] = []
        if let backendID = query.backendID {
            clauses.append("\(prefix)backend_id = ?")
            values.append(.integer(backendID))
        }
        if let instance = query.instance {
            clauses.append("\(prefix)instance = ?")
            values.append(.text(instance))
        }
        if !query.kinds.isEmpty {
            clauses.append("\(prefix)kind IN (\(Array(repeating: "?", count: query.kinds.count).joined(separator: ", ")))")
            values += query.kinds.map { .text($0.rawValue) }
        }
        return (clauses, values)
    }

    /// Runs an event select whose values are all in `values` and collects its rows.
    static func events(_ sql: String, _ values: [SQLValue], in connection: Connection) throws -> [Event] {
        let statement = try connection.statement(sql)
        try statement.bind(values)
        var result: [Event] = []
        while try statement.step() { result.append(event(from: statement)) }
        return result
    }
}
