import CSQLite

extension Store {
    /// The last sign of life of the daemon named `instance` (nil: the unnamed one of rows from
    /// before schema v8) strictly between `start` and `end`: its latest event or health check, or
    /// nil when it left none. What dates a daemon that stopped without a `shutdown` (killed,
    /// crashed): the audit draws no balancer from there to its next `startup`.
    ///
    /// Two index seeks (`events_instance_at`, `health_runs_last`). For the unnamed series,
    /// `admin_change` and `prune` rows are left out: `lbctl` writes them without an instance too.
    public func lastActivity(of instance: String?, after start: Timestamp, before end: Timestamp) throws -> Timestamp? {
        let series = Self.seriesCondition(instance, column: "instance")
        let operatorRows = instance == nil ? " AND kind NOT IN ('admin_change', 'prune')" : ""
        let bounds: [SQLValue] = [.integer(start.milliseconds), .integer(end.milliseconds)]
        let queries: [(sql: String, values: [SQLValue])] = [
            ("SELECT max(at) FROM events WHERE \(series.sql) AND at > ? AND at < ?\(operatorRows)", series.values + bounds),
            ("SELECT max(last_at) FROM health_runs WHERE last_at > ? AND last_at < ? AND \(series.sql)", bounds + series.values),
        ]
        return try withConnection { connection in
            var latest: Timestamp?
            for query in queries {
                let statement = try connection.statement(query.sql)
                try statement.bind(query.values)
                _ = try statement.step()
                if let at = statement.optionalInt64(0).map(Timestamp.init(milliseconds:)) {
                    latest = max(latest ?? at, at)
                }
            }
            return latest
        }
    }
}
