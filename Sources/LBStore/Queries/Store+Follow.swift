import CSQLite

extension Store {
    /// Events with an id above `id` that match `query`'s backend and kinds, in id order, at most
    /// `limit`: the growing tail of the log, for `lbctl events --follow`.
    ///
    /// `query.range`, `query.limit` and `query.afterID` are ignored. The scan walks the primary key
    /// from `id`, so polling the tail of a log of millions of rows stays cheap.
    public func events(after id: Int64, matching query: EventQuery, limit: Int = 10_000) throws -> [Event] {
        // Not by the backend and kind indexes: the rowid range is the narrow one here, whatever
        // those columns' statistics say.
        let filter = Store.backendAndKindClauses(of: query, indexed: false, dialect: dialect)
        let clauses = ["e.id > ?"] + filter.clauses
        let values: [SQLValue] = [.integer(id)] + filter.values + [.integer(Int64(max(0, limit)))]
        let sql = """
            SELECT \(Store.eventSelectColumns)
            FROM events e LEFT JOIN backends b ON b.id = e.backend_id
            WHERE \(clauses.joined(separator: " AND "))
            ORDER BY e.id LIMIT ?
            """
        return try withConnection { connection in try Store.events(sql, values, in: connection) }
    }
}
