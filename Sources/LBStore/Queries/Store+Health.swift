import CSQLite

extension Store {
    /// The health runs of one backend that overlap `range`, oldest first, with the uptime ratio.
    ///
    /// A run stands for the time from its first check until the next run began (the latest run:
    /// until its last check). Uptime is the passing share of that time inside `range`.
    public func healthHistory(backendID: Int64, in range: TimeRange) throws -> HealthHistory {
        // Each daemon's checks are a series of their own: in a fleet the runs of several
        // instances overlap in time, so each series is measured apart. One query reads them all:
        // the runs that began in the window, and each series' run in effect at its start (the
        // latest that began by then; a series' runs are written in time order).
        let runs: [HealthRun] = try withConnection { connection in
            let statement = try connection.statement("""
                SELECT id, backend_id, passed, first_at, last_at, count, latency_min_ms, latency_max_ms,
                       latency_sum_ms, last_error, instance
                FROM health_runs
                WHERE backend_id = ? AND first_at < ? AND (first_at >= ? OR id IN (
                    SELECT max(id) FROM health_runs WHERE backend_id = ? AND first_at <= ? GROUP BY instance))
                ORDER BY first_at, id
                """)
            try statement.bind(.integer(backendID), .integer(range.end.milliseconds), .integer(range.start.milliseconds),
                               .integer(backendID), .integer(range.start.milliseconds))
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
                                      lastError: statement.optionalText(9), instance: statement.optionalText(10)))
            }
            return runs
        }
        let series = Dictionary(grouping: runs, by: \.instance)
        // Unnamed first, then by name: the same order on both engines.
        let instances = series.keys.sorted { ($0 ?? "") < ($1 ?? "") || ($0 == nil && $1 != nil) }
        let measures = instances.map { instance in
            let measure = Self.measure(series[instance] ?? [], in: range)
            return (uptime: InstanceUptime(instance: instance, uptime: measure.uptime, checks: measure.checks),
                    up: measure.up, checked: measure.checked)
        }
        if measures.count <= 1 {
            let only = measures.first
            return HealthHistory(runs: runs, range: range, uptime: only?.uptime.uptime, checks: only?.uptime.checks ?? 0)
        }
        let checked = measures.reduce(0) { $0 + $1.checked }
        let checks = measures.reduce(0) { $0 + $1.uptime.checks }
        let uptime = checked > 0 ? Double(measures.reduce(0) { $0 + $1.up }) / Double(checked)
            : Self.countedUptime(runs, in: range)
        return HealthHistory(runs: runs, range: range, uptime: uptime, checks: checks, instances: measures.map(\.uptime))
    }

    /// The passing share of one series' checked time inside `range` (a run lasts until the next
    /// begins), its checked and passing milliseconds, and its checks.
    private static func measure(_ runs: [HealthRun], in range: TimeRange)
        -> (uptime: Double?, up: Int64, checked: Int64, checks: Int) {
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
        let uptime = checkedTime > 0 ? Double(upTime) / Double(checkedTime) : countedUptime(runs, in: range)
        return (uptime, upTime, checkedTime, checks)
    }

    /// A single check has no duration: the passing share of the checks counted instead.
    private static func countedUptime(_ runs: [HealthRun], in range: TimeRange) -> Double? {
        let inRange = runs.filter { $0.lastAt >= range.start && $0.firstAt < range.end }
        let total = inRange.reduce(0) { $0 + $1.count }
        return total == 0 ? nil : Double(inRange.filter(\.passed).reduce(0) { $0 + $1.count }) / Double(total)
    }
}
