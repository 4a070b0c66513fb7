import CSQLite

/// A place in the event log. Events are ordered by time, then by id (the order they were
/// written), so two events of the same millisecond still have a before and an after.
public struct EventPosition: Hashable, Comparable, Sendable {
    public var at: Timestamp
    public var id: Int64

    public init(at: Timestamp, id: Int64) {
        self.at = at
        self.id = id
    }

    /// After every event of `instant` and before every later one: what was in effect at `instant`
    /// is what lies before this position.
    public static func end(of instant: Timestamp) -> EventPosition { EventPosition(at: instant, id: Int64.max) }

    /// Where `event` stands in the log.
    public init(of event: Event) { self.init(at: event.at, id: event.id) }

    public static func < (lhs: EventPosition, rhs: EventPosition) -> Bool {
        (lhs.at, lhs.id) < (rhs.at, rhs.id)
    }
}

/// The point look-ups behind `lbctl backends --at` and `lbctl why`: one backend's events of one kind
/// on either side of a position, walked through the `(backend_id, kind, at)` index a page at a
/// time, so the cost follows the few rows read, never the size of the log.
extension Store {
    /// The time of the oldest event still in the log, or nil for an empty log: nothing recorded
    /// says what happened before it.
    public func firstEventTime() throws -> Timestamp? {
        try withConnection { connection in
            let statement = try connection.statement("SELECT min(at) FROM events")
            _ = try statement.step()
            return statement.optionalInt64(0).map(Timestamp.init(milliseconds:))
        }
    }

    /// What an event did, for filtering admin changes in SQL: `data.action` ("add", "remove",
    /// "admin_state", "weight", "origin"), else the first word of the detail, which is the same word
    /// on admin changes written before schema v5 ("admin_state enabled->drained by=alice").
    static let eventActionSQL =
        "coalesce(json_extract(e.data, '$.action'), substr(e.detail, 1, instr(e.detail || ' ', ' ') - 1))"

    /// Up to `limit` events of `kind` for one backend strictly before `position`, newest first;
    /// with `actions`, only those whose action (see `eventActionSQL`) is one of them.
    public func backendEvents(_ backendID: Int64, kind: EventKind, before position: EventPosition,
                              actions: [String] = [], limit: Int) throws -> [Event] {
        // The first three terms are the index range; the next only splits a shared millisecond.
        try backendEvents(backendID, kind: kind, actions: actions, limit: limit,
                          range: "e.at <= ? AND (e.at < ? OR e.id < ?)", order: "e.at DESC, e.id DESC",
                          position: position)
    }

    /// Up to `limit` events of `kind` for one backend strictly after `position`, oldest first;
    /// with `actions`, only those whose action is one of them.
    public func backendEvents(_ backendID: Int64, kind: EventKind, after position: EventPosition,
                              actions: [String] = [], limit: Int) throws -> [Event] {
        try backendEvents(backendID, kind: kind, actions: actions, limit: limit,
                          range: "e.at >= ? AND (e.at > ? OR e.id > ?)", order: "e.at, e.id", position: position)
    }

    private func backendEvents(_ backendID: Int64, kind: EventKind, actions: [String], limit: Int, range: String,
                               order: String, position: EventPosition) throws -> [Event] {
        var sql = """
            SELECT \(Store.eventSelectColumns)
            FROM events e LEFT JOIN backends b ON b.id = e.backend_id
            WHERE e.backend_id = ? AND e.kind = ? AND \(range)
            """
        var values: [SQLValue] = [.integer(backendID), .text(kind.rawValue), .integer(position.at.milliseconds),
                                  .integer(position.at.milliseconds), .integer(position.id)]
        if !actions.isEmpty {
            // A filter on the rows the index range visits, not a second index: admin changes are few.
            sql += " AND \(Store.eventActionSQL) IN (\(Array(repeating: "?", count: actions.count).joined(separator: ", ")))"
            values += actions.map { .text($0) }
        }
        sql += " ORDER BY \(order) LIMIT ?"
        values.append(.integer(Int64(max(0, limit))))
        return try withConnection { connection in try Store.events(sql, values, in: connection) }
    }
}
