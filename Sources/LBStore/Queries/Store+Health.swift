import CSQLite

extension Store {
    /// The health runs of one backend that overlap `range`, oldest first, with the uptime ratio.
    ///
    /// A run stands for the time from its first check until the next run began (the latest run:
    /// until its last check). Uptime is the passing share of that time inside `range`.
    public func healthHistory(backendID: Int64, in range: TimeRange) throws -> HealthHistory {
        let runs: [HealthRun] = try withConnection { connection in
            // The run in effect at range.start began before it; take it too.
            let statement = try connection.statement("""
                SELECT id, backend_id, passed, first_at, last_at, count, latency_min_ms, latency_max_ms,
                       latency_sum_ms, last_error
                FROM health_runs
                WHERE backend_id = ? AND first_at < ? AND first_at >= coalesce(
                    (SELECT max(first_at) FROM health_runs WHERE backend_id = ? AND first_at <= ?), ?)
                ORDER BY first_at, id
                """)
            try statement.bind(.integer(backendID), .integer(range.end.milliseconds), .integer(backendID),
                               .integer(range.start.milliseconds), .integer(range.start.milliseconds))
            var runs: [HealthRun] = []
            while try statement.step() {
                let count = statement.int(5)
                runs.append(HealthRun(id: statement.int64(0), backendID: statement.int64(1),
                                      passed: statement.int64(2) != 0,
                                      firstAt: Timestamp(milliseconds: statement.int64(3)),
                                      lastAt: Timestamp(milliseconds: statement.int64(4)), count: count,
                                      minLatencyMilliseconds: statement.double(6),
                                      maxLatencyMilliseconds: statement.double(7),
                                      averageLatencyMilliseconds: statement.double(8) / Double(max(count, 1)),
                                      lastError: statement.optionalText(9)))
            }
            return runs
        }
        var upTime: Int64 = 0
        var checkedTime: Int64 = 0
        var checks = 0
        for (index, run) in runs.enumerated() {
            let spanEnd = index + 1 < runs.count ? runs[index + 1].firstAt : run.lastAt
            let start = max(run.firstAt, range.start)
            let end = min(spanEnd, range.end)
            if run.lastAt >= range.start { checks += run.count }
            guard end > start else { continue }
            let span = end.milliseconds - start.milliseconds
            checkedTime += span
            if run.passed { upTime += span }
        }
        // A single check has no duration: fall back to counting the runs' checks.
        let uptime: Double?
        if checkedTime > 0 {
            uptime = Double(upTime) / Double(checkedTime)
        } else {
            let inRange = runs.filter { $0.lastAt >= range.start && $0.firstAt < range.end }
            let total = inRange.reduce(0) { $0 + $1.count }
            uptime = total == 0 ? nil : Double(inRange.filter(\.passed).reduce(0) { $0 + $1.count }) / Double(total)
        }
        return HealthHistory(runs: runs, range: range, uptime: uptime, checks: checks)
    }
}
