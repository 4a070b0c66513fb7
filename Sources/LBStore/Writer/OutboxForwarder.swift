import NIOCore
import NIOPosix
import PostgresNIO

/// Sends what a daemon on PostgreSQL recorded into its local outbox (an SQLite file the
/// `EventWriter` writes as usual) on to PostgreSQL, in order and exactly once.
///
/// Each pass reads the events after the last one sent, the health runs that may have grown since,
/// this instance's view of each backend and its row in `instances`, and writes them to PostgreSQL
/// in one transaction, each table's rows as one `INSERT … SELECT * FROM unnest(…)` of typed
/// arrays; only after that commits does it move its marks in the outbox. While PostgreSQL writes,
/// the pass deletes from the outbox what earlier passes sent (in bounded steps), so the outbox
/// stays as small as what PostgreSQL has not taken yet, and reads the next batch ahead: the two
/// sides' work overlaps. A crash between the commit and the marks sends the same rows again,
/// which PostgreSQL's unique (instance, origin_id) keys turn into nothing: no row is lost and
/// none is written twice. While PostgreSQL is away
/// every pass fails and the outbox keeps growing on disk; the first pass that succeeds sends it
/// all, oldest first. Not thread-safe: one owner calls `forward` (the daemon's forwarding service,
/// on its thread pool).
public final class OutboxForwarder: @unchecked Sendable {
    // @unchecked Sendable: used by one task at a time (the forwarding service's loop).
    public let instance: String
    private let outbox: SQLiteConnection
    private let target: PostgresTarget
    private let eventLoop: any EventLoop
    private var server: PostgresStoreConnection?

    /// What one pass sent.
    public struct Pass: Sendable, Equatable {
        public var events: Int
        public var healthRuns: Int
        /// Events still waiting in the outbox after this pass.
        public var eventsLeft: Int
    }

    public init(outbox path: String, target: PostgresTarget, instance: String,
                eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()) throws {
        self.instance = instance
        self.target = target
        self.eventLoop = eventLoop
        outbox = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try Migrator.prepare(outbox)
    }

    /// Sends up to `maximumEvents` events and everything else that changed; throws when
    /// PostgreSQL cannot be reached or refuses the batch (the next pass tries again).
    @discardableResult
    public func forward(maximumEvents: Int = 10_000) throws -> Pass {
        let eventMark = try mark("events")
        // Runs sent: every row up to `runMark`, as it stood at `runTime`. A run grows only while it
        // is its backend's latest, and growing moves its last_at: new rows and rows whose last_at
        // reached `runTime` are what is left to send.
        let runMark = try mark("health_runs")
        let runTime = try mark("health_runs_last_at")
        let base = try originBase(eventMark: eventMark, runMark: runMark)
        let batch = try takeReadAhead(after: eventMark, limit: maximumEvents)
            ?? readEvents(after: eventMark, limit: maximumEvents, base: base.events)
        let events = batch.columns
        let lastEvent = batch.last
        let runColumns = """
            backend_id, passed, first_at, last_at, count, latency_min_ms, latency_max_ms, latency_sum_ms,
            last_error, coalesce(instance, ?), id + ?, id
            """
        var runs = Self.runColumns()
        var highestRun: Int64?
        var latestRunTime: Int64?
        try outboxColumns("""
            SELECT \(runColumns) FROM health_runs WHERE id > ?
            UNION SELECT \(runColumns) FROM health_runs WHERE last_at >= ?
            ORDER BY 12
            """, [.text(instance), .integer(base.runs), .integer(runMark), .text(instance), .integer(base.runs),
                  .integer(runTime)], into: &runs) { row in
            highestRun = max(highestRun ?? .min, row.int64(11))
            latestRunTime = max(latestRunTime ?? .min, row.int64(3))
        }
        let views = try outboxRows("SELECT backend_id, instance, health, since FROM backend_health WHERE instance = ?",
                                   [.text(instance)], columns: 4)
        let rows = try outboxRows("""
            SELECT name, host, pid, listen, version, started_at, heartbeat_at, stopped_at FROM instances WHERE name = ?
            """, [.text(instance)], columns: 8)

        var statements: [PostgresQuery] = []
        if events[0].count > 0 {
            statements.append(ColumnArray.query("""
                INSERT INTO events (at, kind, backend_id, request_id, attempt, detail, data, count, instance, origin_id)
                SELECT * FROM \(ColumnArray.unnest(events))
                ON CONFLICT (instance, origin_id) DO NOTHING
                """, columns: events))
        }
        if runs[0].count > 0 {
            statements.append(ColumnArray.query("""
                INSERT INTO health_runs (backend_id, passed, first_at, last_at, count, latency_min_ms,
                    latency_max_ms, latency_sum_ms, last_error, instance, origin_id)
                SELECT * FROM \(ColumnArray.unnest(runs))
                ON CONFLICT (instance, origin_id) DO UPDATE SET last_at = excluded.last_at, count = excluded.count,
                    latency_min_ms = excluded.latency_min_ms, latency_max_ms = excluded.latency_max_ms,
                    latency_sum_ms = excluded.latency_sum_ms, last_error = excluded.last_error
                """, columns: runs))
        }
        for view in views {
            statements.append(PostgresStoreConnection.query("""
                INSERT INTO backend_health (backend_id, instance, health, since) VALUES ($1, $2, $3, $4)
                ON CONFLICT (backend_id, instance) DO UPDATE SET health = excluded.health, since = excluded.since
                """, binds: view))
            // The registry's health is the latest any instance saw change.
            statements.append(PostgresStoreConnection.query("""
                UPDATE backends SET health = $1, health_since = $2 WHERE id = $3 AND health_since < $4
                """, binds: [view[2], view[3], view[0], view[3]]))
        }
        for row in rows {
            statements.append(PostgresStoreConnection.query("""
                INSERT INTO instances (name, host, pid, listen, version, started_at, heartbeat_at, stopped_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, listen = excluded.listen,
                    version = excluded.version, started_at = excluded.started_at,
                    heartbeat_at = excluded.heartbeat_at, stopped_at = excluded.stopped_at
                """, binds: row))
        }

        // One transaction, handed over whole; while PostgreSQL writes it, the outbox lets go of
        // what earlier passes sent, says what is left after this one and reads the next batch.
        let sent: PostgresStoreConnection.SentTransaction
        let server: PostgresStoreConnection
        do {
            server = try connected()
            sent = try server.send(transaction: statements)
        } catch {
            // A failed connection is made anew on the next pass.
            self.server = nil
            throw error
        }
        let meanwhile = Result { () throws -> Int in
            try releaseSent(eventsThrough: eventMark, runsThrough: runMark)
            // Rows after the mark are numbered without a gap: SQLite numbers a row after the
            // highest id, and nothing after the mark is deleted.
            let left = try highestEvent() - (lastEvent ?? eventMark)
            if left > 0, let lastEvent {
                readAhead = try readEvents(after: lastEvent, limit: maximumEvents, base: base.events)
            }
            return Int(max(0, left))
        }
        do {
            try server.wait(for: sent)
        } catch {
            self.server = nil
            throw error
        }
        // Sent: move the marks, in one write; the next pass deletes what they passed.
        try outbox.transaction {
            if let lastEvent { try setMark("events", lastEvent) }
            if let highestRun, highestRun > runMark { try setMark("health_runs", highestRun) }
            if let latestRunTime, latestRunTime > runTime { try setMark("health_runs_last_at", latestRunTime) }
        }
        return Pass(events: events[0].count, healthRuns: runs[0].count, eventsLeft: try meanwhile.get())
    }

    /// Events of the outbox after an id, in the order of PostgreSQL's columns.
    struct EventBatch {
        var after: Int64
        var limit: Int
        var columns: [ColumnArray]
        /// The id of the last one (nil when there are none).
        var last: Int64?
    }

    /// The next pass's events, read while PostgreSQL wrote this pass's; used if the next pass
    /// starts where this one ended (after a failed pass it starts earlier, and reads again).
    private var readAhead: EventBatch?

    /// The read-ahead batch if it starts at `mark` and is as long; it is used at most once.
    private func takeReadAhead(after mark: Int64, limit: Int) -> EventBatch? {
        defer { readAhead = nil }
        guard let batch = readAhead, batch.after == mark, batch.limit == limit else { return nil }
        return batch
    }

    /// Reads up to `limit` events after `mark`; the outbox's id, last, becomes origin_id
    /// (PostgreSQL numbers the row itself).
    private func readEvents(after mark: Int64, limit: Int, base: Int64) throws -> EventBatch {
        var batch = EventBatch(after: mark, limit: limit, columns: Self.eventColumns(capacity: limit))
        try outboxColumns("""
            SELECT at, kind, backend_id, request_id, attempt, detail, data, count, coalesce(instance, ?), id + ?, id
            FROM events WHERE id > ? ORDER BY id LIMIT ?
            """, [.text(instance), .integer(base), .integer(mark), .integer(Int64(limit))], into: &batch.columns) { row in
            batch.last = row.int64(10)
        }
        return batch
    }

    /// What is added to an outbox id to make its `origin_id`, per table: 0 for an outbox that was
    /// sending before bases existed; for a new one, the highest `origin_id` PostgreSQL held for
    /// this instance when it first sent. An outbox lost with its host or volume and made anew
    /// numbers its rows from 1 again, and without the base they would fall on the old outbox's
    /// keys and be taken for rows already sent. Kept in the outbox before the first row is sent
    /// with it, so a crash resends with the same keys.
    private var base: (events: Int64, runs: Int64)?

    private func originBase(eventMark: Int64, runMark: Int64) throws -> (events: Int64, runs: Int64) {
        if let base { return base }
        var found: (events: Int64, runs: Int64)
        if let events = try optionalMark("events_origin_base"), let runs = try optionalMark("health_runs_origin_base") {
            found = (events, runs)
        } else if eventMark > 0 || runMark > 0 {
            found = (0, 0)
        } else {
            let server = try connected()
            do {
                let highest = try server.run("""
                    SELECT (SELECT coalesce(max(origin_id), 0) FROM events WHERE instance = $1),
                           (SELECT coalesce(max(origin_id), 0) FROM health_runs WHERE instance = $1)
                    """, binds: [.text(instance)])
                guard case .integer(let events)? = highest.first?[0], case .integer(let runs)? = highest.first?[1] else {
                    throw StoreError(.server, "PostgreSQL did not say which origin ids \(instance) used")
                }
                found = (events, runs)
            } catch {
                self.server = nil
                throw error
            }
        }
        try outbox.transaction {
            try setMark("events_origin_base", found.events)
            try setMark("health_runs_origin_base", found.runs)
        }
        base = found
        return found
    }

    private func highestEvent() throws -> Int64 {
        let statement = try outbox.statement("SELECT coalesce(max(id), 0) FROM events")
        defer { outbox.releaseStatements() }
        return try statement.step() ? statement.int64(0) : 0
    }

    /// The marks through which the outbox has let go of sent rows (nil before the first pass).
    private var released: (events: Int64, runs: Int64)?

    /// Lets go of the rows that passes before this one sent (through the marks as this pass found
    /// them), unless nothing was sent since the last time: an idle pass writes nothing.
    private func releaseSent(eventsThrough eventMark: Int64, runsThrough runMark: Int64) throws {
        if let released, released.events >= eventMark, released.runs >= runMark { return }
        try release(eventsThrough: eventMark, runsThrough: runMark)
        released = (eventMark, runMark)
    }

    /// Rows deleted from the outbox in one pass at most, per table: a backlog that PostgreSQL took
    /// at once (after an outage) leaves the outbox over a few passes, never in one long write that
    /// would hold up the writer.
    static let releasedPerPass = 20_000

    /// Deletes sent events and sent health runs from the outbox, except each backend's latest run,
    /// which the writer still extends. The outbox keeps only what PostgreSQL has not taken yet and
    /// the daemon's own state (the registry's copy, its health, cursor, start and stop).
    private func release(eventsThrough eventMark: Int64, runsThrough runMark: Int64) throws {
        defer { outbox.releaseStatements() }
        // The last event sent stays: SQLite numbers a new row after the highest id in the table
        // (rowids, not AUTOINCREMENT), and an emptied table would number the next one 1, below the
        // mark. Each backend's latest run stays for the writer, the highest run among them.
        try outbox.statement("""
            DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < ? ORDER BY id LIMIT ?)
            """).bind(.integer(eventMark), .integer(Int64(Self.releasedPerPass))).run()
        try outbox.statement("""
            DELETE FROM health_runs WHERE id IN (
                SELECT id FROM health_runs WHERE id <= ?
                    AND id NOT IN (SELECT max(id) FROM health_runs GROUP BY backend_id, instance)
                ORDER BY id LIMIT ?)
            """).bind(.integer(runMark), .integer(Int64(Self.releasedPerPass))).run()
    }

    private func connected() throws -> PostgresStoreConnection {
        if let server { return server }
        let made = try PostgresStoreConnection(target: target, eventLoop: eventLoop)
        server = made
        return made
    }

    private func mark(_ name: String) throws -> Int64 {
        try optionalMark(name) ?? 0
    }

    private func optionalMark(_ name: String) throws -> Int64? {
        let statement = try outbox.statement("SELECT value FROM outbox_marks WHERE name = ?")
        defer { outbox.releaseStatements() }
        try statement.bind(.text(name))
        return try statement.step() ? statement.int64(0) : nil
    }

    private func setMark(_ name: String, _ value: Int64) throws {
        defer { outbox.releaseStatements() }
        try outbox.statement("""
            INSERT INTO outbox_marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value
            """).bind(.text(name), .integer(value)).run()
    }

    /// Every row of an outbox query, as values in column order.
    private func outboxRows(_ sql: String, _ values: [SQLValue], columns: Int32) throws -> [[SQLValue]] {
        defer { outbox.releaseStatements() }
        let statement = try outbox.sqliteStatement(sql)
        try statement.bind(values)
        var rows: [[SQLValue]] = []
        while try statement.step() {
            rows.append((0..<columns).map { statement.value($0) })
        }
        return rows
    }

    /// Reads every row of an outbox query into `columns`, one value per column in order, and
    /// shows each row to `eachRow` as it is read.
    private func outboxColumns(_ sql: String, _ values: [SQLValue], into columns: inout [ColumnArray],
                               eachRow: (SQLiteStatement) -> Void) throws {
        defer { outbox.releaseStatements() }
        let statement = try outbox.sqliteStatement(sql)
        try statement.bind(values)
        while try statement.step() {
            for index in columns.indices {
                try columns[index].append(statement.value(Int32(index)))
            }
            eachRow(statement)
        }
    }

    /// The columns of `events` a pass sends, in the INSERT's order.
    static func eventColumns(capacity: Int) -> [ColumnArray] {
        [ColumnArray(.bigint, name: "at", capacity: capacity), ColumnArray(.text, name: "kind", capacity: capacity),
         ColumnArray(.bigint, name: "backend_id", capacity: capacity),
         ColumnArray(.text, name: "request_id", capacity: capacity),
         ColumnArray(.bigint, name: "attempt", capacity: capacity), ColumnArray(.text, name: "detail", capacity: capacity),
         ColumnArray(.jsonb, name: "data"), ColumnArray(.bigint, name: "count", capacity: capacity),
         ColumnArray(.text, name: "instance", capacity: capacity), ColumnArray(.bigint, name: "origin_id", capacity: capacity)]
    }

    /// The columns of `health_runs` a pass sends, in the INSERT's order.
    static func runColumns() -> [ColumnArray] {
        [ColumnArray(.bigint, name: "backend_id"), ColumnArray(.bigint, name: "passed"),
         ColumnArray(.bigint, name: "first_at"), ColumnArray(.bigint, name: "last_at"),
         ColumnArray(.bigint, name: "count"), ColumnArray(.double, name: "latency_min_ms"),
         ColumnArray(.double, name: "latency_max_ms"), ColumnArray(.double, name: "latency_sum_ms"),
         ColumnArray(.text, name: "last_error"), ColumnArray(.text, name: "instance"),
         ColumnArray(.bigint, name: "origin_id")]
    }
}

extension Array {
    /// The array in consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
