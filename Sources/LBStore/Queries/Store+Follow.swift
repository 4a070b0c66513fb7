import CSQLite

extension Store {
    /// Events with an id above `id` that match `query`'s backend and kinds, in id order, at most
    /// `limit`: the growing tail of the log, for `lbctl events --follow`.
    ///
    /// `query.range`, `query.limit` and `query.afterID` are ignored. The scan walks the primary key
    /// from `id`, so polling the tail of a log of millions of rows stays cheap.
    public func events(after id: Int64, matching query: EventQuery, limit: Int = 10_000) throws -> [Event] {
        var clauses = ["e.id > ?"]
        var values: [SQLValue] = [.integer(id)]
        // The unary `+` keeps SQLite off the backend and kind indexes: the rowid range is the
        // narrow one here, whatever those columns' statistics say.
        if let backendID = query.backendID {
            clauses.append("+e.backend_id = ?")
            values.append(.integer(backendID))
        }
        if !query.kinds.isEmpty {
            clauses.append("+e.kind IN (\(Array(repeating: "?", count: query.kinds.count).joined(separator: ", ")))")
            values += query.kinds.map { .text($0.rawValue) }
        }
        values.append(.integer(Int64(max(0, limit))))
        let sql = """
            SELECT \(Store.eventSelectColumns)
            FROM events e LEFT JOIN backends b ON b.id = e.backend_id
            WHERE \(clauses.joined(separator: " AND "))
            ORDER BY e.id LIMIT ?
            """
        return try withConnection { connection in try Store.events(sql, values, in: connection) }
    }
}
