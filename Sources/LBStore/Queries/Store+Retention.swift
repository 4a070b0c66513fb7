import CSQLite

/// How many rows a prune removed, or would remove.
public struct PruneResult: Hashable, Sendable {
    public var events: Int
    public var healthRuns: Int
}

extension Store {
    /// What `prune(olderThan:)` would delete now: the events and the health runs that ended before
    /// `cutoff` (for `lbctl prune --dry-run`; deletes nothing).
    public func pruneCount(olderThan cutoff: Timestamp) throws -> PruneResult {
        try withConnection { connection in
            func count(_ sql: String) throws -> Int {
                let statement = try connection.statement(sql)
                try statement.bind(.integer(cutoff.milliseconds))
                _ = try statement.step()
                return statement.int(0)
            }
            return PruneResult(events: try count("SELECT count(*) FROM events WHERE at < ?"),
                               healthRuns: try count("SELECT count(*) FROM health_runs WHERE last_at < ?"))
        }
    }

    /// Deletes events and health runs that ended before `cutoff`, `batchSize` rows per
    /// transaction so a concurrent writer never waits long for the lock.
    ///
    /// First it records a `prune` event at `now`, the marker that tells later readers (the audit)
    /// that nothing older than `cutoff` is left, even when the prune is interrupted: its data holds
    /// the cutoff, `actor`, `command` and the rows counted, rewritten with the rows deleted at the
    /// end. The marker is the newest prune marker and is never deleted by its own prune.
    @discardableResult
    public func prune(olderThan cutoff: Timestamp, actor: String = "lbctl", command: String? = nil,
                      at now: Timestamp = .now(), batchSize: Int = 5_000) throws -> PruneResult {
        let batch = Int64(max(1, batchSize))
        let counted = try pruneCount(olderThan: cutoff)
        let marker = try recordPruneMarker(Self.pruneMarker(cutoff: cutoff, result: counted, actor: actor,
                                                            command: command, at: now))
        let events = try deleteInBatches(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? AND id <> ? ORDER BY at LIMIT ?)",
            [.integer(cutoff.milliseconds), .integer(marker)], batch: batch)
        let runs = try deleteInBatches(
            "DELETE FROM health_runs WHERE id IN (SELECT id FROM health_runs WHERE last_at < ? ORDER BY last_at LIMIT ?)",
            [.integer(cutoff.milliseconds)], batch: batch)
        let result = PruneResult(events: events, healthRuns: runs)
        if result != counted {
            let final = Self.pruneMarker(cutoff: cutoff, result: result, actor: actor, command: command, at: now)
            try withConnection { connection in
                try connection.transaction {
                    try connection.statement("UPDATE events SET detail = ?, data = ? WHERE id = ?")
                        .bind(.optional(final.detail), .optional(final.data?.json), .integer(marker)).run()
                }
            }
        }
        return result
    }

    /// The `prune` event that says what a prune deleted.
    static func pruneMarker(cutoff: Timestamp, result: PruneResult, actor: String, command: String?,
                            at now: Timestamp) -> Event {
        Event(at: now, kind: .prune,
              detail: "older than \(cutoff.rfc3339): \(result.events) events, \(result.healthRuns) health runs by=\(actor)",
              data: EventData(actor: actor, command: command, cutoff: cutoff.milliseconds, events: result.events,
                              healthRuns: result.healthRuns))
    }

    /// Writes `marker` and returns its id.
    private func recordPruneMarker(_ marker: Event) throws -> Int64 {
        try withConnection { connection in
            try connection.transaction {
                try Store.insert(marker, into: connection)
                // The newest prune row is the one just written: the transaction holds the write lock.
                let statement = try connection.statement("SELECT max(id) FROM events WHERE kind = 'prune'")
                _ = try statement.step()
                return statement.int64(0)
            }
        }
    }

    private func deleteInBatches(_ sql: String, _ values: [SQLValue], batch: Int64) throws -> Int {
        var total = 0
        // Bounded: each round deletes `batch` rows or ends the loop.
        while true {
            let deleted: Int = try withConnection { connection in
                try connection.transaction {
                    try connection.statement(sql).bind(values + [.integer(batch)]).run()
                    return connection.changes
                }
            }
            total += deleted
            if deleted < batch { return total }
        }
    }
}
