import CSQLite

/// How many rows a prune removed.
public struct PruneResult: Hashable, Sendable {
    public var events: Int
    public var healthRuns: Int
}

extension Store {
    /// Deletes events and health runs that ended before `cutoff`, `batchSize` rows per
    /// transaction so a concurrent writer never waits long for the lock.
    @discardableResult
    public func prune(olderThan cutoff: Timestamp, batchSize: Int = 5_000) throws -> PruneResult {
        let batch = Int64(max(1, batchSize))
        let events = try deleteInBatches(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? ORDER BY at LIMIT ?)",
            cutoff: cutoff, batch: batch)
        let runs = try deleteInBatches(
            "DELETE FROM health_runs WHERE id IN (SELECT id FROM health_runs WHERE last_at < ? ORDER BY last_at LIMIT ?)",
            cutoff: cutoff, batch: batch)
        return PruneResult(events: events, healthRuns: runs)
    }

    private func deleteInBatches(_ sql: String, cutoff: Timestamp, batch: Int64) throws -> Int {
        var total = 0
        // Bounded: each round deletes `batch` rows or ends the loop.
        while true {
            let deleted: Int = try withConnection { connection in
                try connection.transaction {
                    try connection.statement(sql).bind(.integer(cutoff.milliseconds), .integer(batch)).run()
                    return connection.changes
                }
            }
            total += deleted
            if deleted < batch { return total }
        }
    }
}
