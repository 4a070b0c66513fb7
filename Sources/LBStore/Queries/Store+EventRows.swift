import CSQLite

extension Store {
    /// The columns every event read selects, in the order `event(from:)` decodes them; the query
    /// must join `backends b` for the URL.
    static let eventSelectColumns = "e.id, e.at, e.kind, e.backend_id, b.url, e.request_id, e.attempt, e.detail"

    /// Decodes one row selected with `eventSelectColumns`.
    static func event(from statement: Statement) -> Event {
        Event(id: statement.int64(0), at: Timestamp(milliseconds: statement.int64(1)),
              kind: EventKind(rawValue: statement.text(2)) ?? .failure,
              backendID: statement.optionalInt64(3), backendURL: statement.optionalText(4),
              requestID: statement.optionalText(5),
              attempt: statement.optionalInt64(6).map { Int($0) },
              detail: statement.optionalText(7))
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
