/// Each backend's latest changes before one position, read for the whole registry at once: what
/// `lbctl backends --at` rebuilds every backend from.
public struct LatestChanges: Sendable {
    /// The latest admin change of each asked action (`add`, `remove`, `admin_state`, …).
    public var adminChanges: [String: Event] = [:]
    /// The latest status change, by any daemon.
    public var status: Event?
    /// The latest status change each asked daemon recorded.
    public var statusByInstance: [String: Event] = [:]
}

extension Store {
    /// For every backend in the registry (removed ones too), its latest admin change of each of
    /// `actions`, its latest status change, and the latest status change of each of `instances`,
    /// strictly before `position`, by backend id.
    ///
    /// Two statements whatever the registry's size: the first finds each change's id with one
    /// index probe per backend and change (correlated subqueries, run inside the server), the
    /// second reads those events. Asking one backend at a time costs a round trip per change,
    /// which on PostgreSQL is the whole cost.
    public func latestChanges(before position: EventPosition, actions: [String],
                              instances: [String]) throws -> [Int64: LatestChanges] {
        let bound: [SQLValue] = [.integer(position.at.milliseconds), .integer(position.at.milliseconds),
                                 .integer(position.id)]
        let before = "e.at <= ? AND (e.at < ? OR e.id < ?) ORDER BY e.at DESC, e.id DESC LIMIT 1"
        var columns: [String] = []
        var values: [SQLValue] = []
        for action in actions {
            // The kind is written out, not bound: SQLite uses a partial index only when the query
            // names its condition itself.
            columns.append("""
                (SELECT e.id FROM events e WHERE e.backend_id = b.id AND e.kind = 'admin_change'
                    AND \(Store.eventActionSQL(dialect)) = ? AND \(before))
                """)
            values += [.text(action)] + bound
        }
        columns.append("(SELECT e.id FROM events e WHERE e.backend_id = b.id AND e.kind = 'status_change' AND \(before))")
        values += bound
        for instance in instances {
            columns.append("""
                (SELECT e.id FROM events e WHERE e.backend_id = b.id AND e.kind = 'status_change'
                    AND e.instance = ? AND \(before))
                """)
            values += [.text(instance)] + bound
        }
        return try withConnection { connection in
            let statement = try connection.statement("SELECT b.id, \(columns.joined(separator: ", ")) FROM backends b ORDER BY b.id")
            try statement.bind(values)
            var ids: [Int64: [Int64?]] = [:]
            while try statement.step() {
                ids[statement.int64(0)] = (1...Int32(columns.count)).map { statement.optionalInt64($0) }
            }
            let wanted = Set(ids.values.flatMap { $0.compactMap { $0 } })
            var events: [Int64: Event] = [:]
            for chunk in Array(wanted).sorted().chunked(500) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                for event in try Store.events("""
                    SELECT \(Store.eventSelectColumns) FROM events e LEFT JOIN backends b ON b.id = e.backend_id
                    WHERE e.id IN (\(placeholders))
                    """, chunk.map { .integer($0) }, in: connection) {
                    events[event.id] = event
                }
            }
            return ids.mapValues { row in
                var latest = LatestChanges()
                for (index, action) in actions.enumerated() {
                    if let id = row[index], let event = events[id] { latest.adminChanges[action] = event }
                }
                latest.status = row[actions.count].flatMap { events[$0] }
                for (index, instance) in instances.enumerated() {
                    if let id = row[actions.count + 1 + index], let event = events[id] {
                        latest.statusByInstance[instance] = event
                    }
                }
                return latest
            }
        }
    }
}
