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
/// (or admin changes of one action) on either side of a position, read through the
/// `(backend_id, kind, at)` and `(backend_id, action, at)` indexes a page at a time, so the cost
/// follows the few rows read, never the size of the log.
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

    /// Up to `limit` events of `kind` for one backend strictly before `position`, newest first.
    public func backendEvents(_ backendID: Int64, kind: EventKind, before position: EventPosition,
                              limit: Int) throws -> [Event] {
        // The first three terms are the index range; the next only splits a shared millisecond.
        try events(where: "e.backend_id = ? AND e.kind = ? AND e.at <= ? AND (e.at < ? OR e.id < ?)",
                   [.integer(backendID), .text(kind.rawValue)], position: position, newestFirst: true, limit: limit)
    }

    /// Up to `limit` events of `kind` for one backend recorded by `instance`, strictly before
    /// `position`, newest first: one daemon's own view in a fleet.
    public func backendEvents(_ backendID: Int64, kind: EventKind, instance: String, before position: EventPosition,
                              limit: Int) throws -> [Event] {
        try events(where: "e.backend_id = ? AND e.kind = ? AND e.instance = ? AND e.at <= ? AND (e.at < ? OR e.id < ?)",
                   [.integer(backendID), .text(kind.rawValue), .text(instance)], position: position, newestFirst: true,
                   limit: limit)
    }

    /// Up to `limit` events of `kind` for one backend recorded by `instance`, strictly after
    /// `position`, oldest first.
    public func backendEvents(_ backendID: Int64, kind: EventKind, instance: String, after position: EventPosition,
                              limit: Int) throws -> [Event] {
        try events(where: "e.backend_id = ? AND e.kind = ? AND e.instance = ? AND e.at >= ? AND (e.at > ? OR e.id > ?)",
                   [.integer(backendID), .text(kind.rawValue), .text(instance)], position: position, newestFirst: false,
                   limit: limit)
    }

    /// The daemons that were running at `position`, by name, as the log has it: those whose
    /// latest `startup` or `shutdown` event before it is a start. A daemon killed without a
    /// shutdown counts until its next start; events written before instances (schema v8) name none.
    public func instancesRunning(at position: EventPosition) throws -> [String] {
        let sql = """
            SELECT e.instance, e.kind FROM events e
            WHERE e.kind IN ('startup', 'shutdown') AND e.instance IS NOT NULL AND e.at <= ? AND (e.at < ? OR e.id < ?)
            ORDER BY e.at, e.id
            """
        let values: [SQLValue] = [.integer(position.at.milliseconds), .integer(position.at.milliseconds), .integer(position.id)]
        return try withConnection { connection in
            let statement = try connection.statement(sql)
            try statement.bind(values)
            var running: [String: Bool] = [:]
            while try statement.step() { running[statement.text(0)] = statement.text(1) == EventKind.startup.rawValue }
            return running.filter(\.value).keys.sorted()
        }
    }

    /// Up to `limit` events of `kind` for one backend strictly after `position`, oldest first.
    public func backendEvents(_ backendID: Int64, kind: EventKind, after position: EventPosition,
                              limit: Int) throws -> [Event] {
        try events(where: "e.backend_id = ? AND e.kind = ? AND e.at >= ? AND (e.at > ? OR e.id > ?)",
                   [.integer(backendID), .text(kind.rawValue)], position: position, newestFirst: false, limit: limit)
    }

    /// What an admin change did: `data.action` (`add`, `remove`, `admin_state`, `weight`,
    /// `origin`), else the detail's first word, the same word on rows written before schema v5
    /// ("admin_state enabled->drained by=alice"). The expression of migration 6's index, to the letter,
    /// so that SQLite can use it.
    /// On PostgreSQL the same value is the stored column `events.action`.
    static func eventActionSQL(_ dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite:
            """
            coalesce(CASE WHEN json_valid(e.data) THEN json_extract(e.data, '$.action') END, \
            substr(e.detail, 1, instr(e.detail || ' ', ' ') - 1))
            """
        case .postgres:
            "e.action"
        }
    }

    /// Up to `limit` admin changes of one backend with this `action`, strictly before `position`,
    /// newest first: seeks in the `events_backend_action_at` index.
    public func adminChanges(_ backendID: Int64, action: String, before position: EventPosition,
                             limit: Int) throws -> [Event] {
        // The kind is written out, not bound: SQLite uses a partial index only when the query
        // names its condition itself.
        try events(where: """
            e.backend_id = ? AND e.kind = 'admin_change' AND \(Store.eventActionSQL(dialect)) = ?
                AND e.at <= ? AND (e.at < ? OR e.id < ?)
            """, [.integer(backendID), .text(action)], position: position, newestFirst: true, limit: limit)
    }

    /// Up to `limit` admin changes of one backend with this `action`, strictly after `position`,
    /// oldest first.
    public func adminChanges(_ backendID: Int64, action: String, after position: EventPosition,
                             limit: Int) throws -> [Event] {
        try events(where: """
            e.backend_id = ? AND e.kind = 'admin_change' AND \(Store.eventActionSQL(dialect)) = ?
                AND e.at >= ? AND (e.at > ? OR e.id > ?)
            """, [.integer(backendID), .text(action)], position: position, newestFirst: false, limit: limit)
    }

    /// Events matching `condition`, whose placeholders take `values` and then the position's
    /// time (twice) and id, in time order either way.
    private func events(where condition: String, _ values: [SQLValue], position: EventPosition, newestFirst: Bool,
                        limit: Int) throws -> [Event] {
        let sql = """
            SELECT \(Store.eventSelectColumns)
            FROM events e LEFT JOIN backends b ON b.id = e.backend_id
            WHERE \(condition)
            ORDER BY \(newestFirst ? "e.at DESC, e.id DESC" : "e.at, e.id") LIMIT ?
            """
        let bound = values + [.integer(position.at.milliseconds), .integer(position.at.milliseconds),
                              .integer(position.id), .integer(Int64(max(0, limit)))]
        return try withConnection { connection in try Store.events(sql, bound, in: connection) }
    }
}
