import CSQLite

extension Store {
    /// Writes whole runs of check results as they are, in one transaction: for building a
    /// database with a long history (the `lbctl-seed` benchmark file: a year of 1-second checks is
    /// billions of results but only thousands of runs). The daemon records checks one by one
    /// through `EventWriter`, which merges them into runs itself.
    ///
    /// `id` and `averageLatencyMilliseconds` of each run are ignored: the row gets a new id and
    /// stores the latency sum as average × count. Throws `.invalidValue` for a run with no check.
    public func importHealthRuns(_ runs: [HealthRun]) throws {
        guard runs.allSatisfy({ $0.count >= 1 }) else {
            throw StoreError(.invalidValue, "a health run holds at least one check")
        }
        try withConnection { connection in
            try connection.transaction {
                let statement = try connection.statement("""
                    INSERT INTO health_runs (backend_id, passed, first_at, last_at, count, latency_min_ms,
                                             latency_max_ms, latency_sum_ms, last_error, instance)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for run in runs {
                    statement.reset()
                    try statement.bind(.integer(run.backendID), .integer(run.passed ? 1 : 0),
                                       .integer(run.firstAt.milliseconds), .integer(run.lastAt.milliseconds),
                                       .integer(Int64(run.count)), .real(run.minLatencyMilliseconds),
                                       .real(run.maxLatencyMilliseconds),
                                       .real(run.averageLatencyMilliseconds * Double(run.count)),
                                       .optional(run.lastError), .optional(run.instance)).run()
                }
            }
        }
    }
}
