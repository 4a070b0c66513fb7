import CSQLite

extension Store {
    static let eventInsertSQL = """
        INSERT INTO events (at, kind, backend_id, request_id, attempt, detail, data, count, instance)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts one event with the connection's cached statement; the caller owns the transaction.
    static func insert(_ event: Event, into connection: Connection) throws {
        if let sqlite = connection as? SQLiteConnection {
            return try insert(event, using: sqlite.sqliteStatement(eventInsertSQL))
        }
        try connection.statement(eventInsertSQL).bind([
            .integer(event.at.milliseconds), .text(event.kind.rawValue), .optional(event.backendID),
            .optional(event.requestID), .optional(event.attempt.map(Int64.init)), .optional(event.detail),
            .optional(event.data?.json), .integer(Int64(max(1, event.count))), .optional(event.instance),
        ]).run()
    }

    /// Inserts one event with an already prepared `eventInsertSQL` statement, so a batch looks
    /// the statement up once rather than once per row.
    static func insert(_ event: Event, using statement: SQLiteStatement) throws {
        statement.reset()
        try statement.bind(1, event.at.milliseconds)
        try statement.bind(2, event.kind.rawValue)
        try statement.bind(3, event.backendID)
        try statement.bind(4, event.requestID)
        try statement.bind(5, event.attempt.map(Int64.init))
        try statement.bind(6, event.detail)
        try statement.bind(7, event.data?.json)
        try statement.bind(8, Int64(max(1, event.count)))
        try statement.bind(9, event.instance)
        try statement.run()
    }

    /// Records one event now, in its own transaction; for `lbctl` and tests. The daemon uses
    /// `EventWriter`, which batches.
    public func record(_ event: Event) throws {
        try withConnection { connection in try connection.transaction { try Store.insert(event, into: connection) } }
    }

    /// Events matching `query`, oldest first. With a limit, the newest `limit` of the window.
    public func events(_ query: EventQuery) throws -> [Event] {
        // The SQL text varies only in which fixed clauses and how many placeholders it has; every
        // value the caller gave is bound.
        let filter = Store.backendAndKindClauses(of: query, indexed: true, dialect: dialect)
        var clauses = ["e.at >= ?", "e.at < ?"] + filter.clauses
        var values: [SQLValue] = [.integer(query.range.start.milliseconds), .integer(query.range.end.milliseconds)]
            + filter.values
        if let afterID = query.afterID {
            clauses.append("e.id > ?")
            values.append(.integer(afterID))
        }
        var sql = """
            SELECT \(Store.eventSelectColumns)
            FROM events e LEFT JOIN backends b ON b.id = e.backend_id
            WHERE \(clauses.joined(separator: " AND "))
            """
        if let limit = query.limit {
            sql += " ORDER BY e.at DESC, e.id DESC LIMIT ?"
            values.append(.integer(Int64(max(0, limit))))
        } else {
            sql += " ORDER BY e.at, e.id"
        }
        let descending = query.limit != nil
        return try withConnection { connection in
            let result = try Store.events(sql, values, in: connection)
            return descending ? result.reversed() : result
        }
    }

    /// How many events of each kind fall in `range`, optionally for one backend; a coalesced row
    /// counts as the occurrences it stands for.
    public func eventCounts(in range: TimeRange, backendID: Int64? = nil) throws -> [EventKind: Int] {
        try withConnection { connection in
            let statement: Statement
            if let backendID {
                statement = try connection.statement(
                    "SELECT kind, sum(count) FROM events WHERE backend_id = ? AND at >= ? AND at < ? GROUP BY kind")
                try statement.bind(.integer(backendID), .integer(range.start.milliseconds), .integer(range.end.milliseconds))
            } else {
                statement = try connection.statement(
                    "SELECT kind, sum(count) FROM events WHERE at >= ? AND at < ? GROUP BY kind")
                try statement.bind(.integer(range.start.milliseconds), .integer(range.end.milliseconds))
            }
            var counts: [EventKind: Int] = [:]
            while try statement.step() {
                if let kind = EventKind(rawValue: statement.text(0)) { counts[kind, default: 0] += statement.int(1) }
            }
            return counts
        }
    }

    /// The largest event id so far (0 when empty).
    public func lastEventID() throws -> Int64 {
        try withConnection { connection in
            let statement = try connection.statement("SELECT coalesce(max(id), 0) FROM events")
            _ = try statement.step()
            return statement.int64(0)
        }
    }
}
