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
                SELECT \(Self.healthRunColumns)
                FROM health_runs
                WHERE backend_id = ? AND first_at < ? AND (first_at >= ? OR id IN (
                    SELECT max(id) FROM health_runs WHERE backend_id = ? AND first_at <= ? GROUP BY instance))
                ORDER BY first_at, id
                """)
            try statement.bind(.integer(backendID), .integer(range.end.milliseconds), .integer(range.start.milliseconds),
                               .integer(backendID), .integer(range.start.milliseconds))
            var runs: [HealthRun] = []
            while try statement.step() { runs.append(Self.healthRun(from: statement)) }
            return runs
        }
        return Self.history(of: runs, in: range)
    }

    /// Every backend's health over `range` (those with no check in it are left out), as
    /// `healthHistory` gives each, in two statements whatever the registry's size: the runs that
    /// overlap the window, then the run before each series' first in it, which stood until it
    /// began. For `lbctl backends`, which shows each backend's uptime over a day.
    public func healthHistories(in range: TimeRange) throws -> [Int64: HealthHistory] {
        let same = dialect == .sqlite ? "instance IS ?" : "instance IS NOT DISTINCT FROM ?"
        return try withConnection { connection in
            let statement = try connection.statement("""
                SELECT \(Self.healthRunColumns) FROM health_runs
                WHERE last_at >= ? AND first_at < ? ORDER BY first_at, id
                """)
            try statement.bind(.integer(range.start.milliseconds), .integer(range.end.milliseconds))
            var runs: [HealthRun] = []
            while try statement.step() { runs.append(Self.healthRun(from: statement)) }
            // A series whose first run in the window began after its start: the run before stood
            // until then.
            struct Series: Hashable { var backendID: Int64; var instance: String? }
            var firsts: [Series: HealthRun] = [:]
            for run in runs where firsts[Series(backendID: run.backendID, instance: run.instance)] == nil {
                firsts[Series(backendID: run.backendID, instance: run.instance)] = run
            }
            let late = firsts.filter { $0.value.firstAt > range.start }.keys.sorted {
                ($0.backendID, $0.instance ?? "") < ($1.backendID, $1.instance ?? "")
            }
            for chunk in late.chunked(200) where !chunk.isEmpty {
                let one = "(SELECT id FROM health_runs WHERE backend_id = ? AND \(same) AND first_at <= ? ORDER BY first_at DESC, id DESC LIMIT 1)"
                let before = try connection.statement("""
                    SELECT \(Self.healthRunColumns) FROM health_runs WHERE id IN (\(Array(repeating: one, count: chunk.count).joined(separator: ", ")))
                    """)
                try before.bind(chunk.flatMap { [.integer($0.backendID), .optional($0.instance), .integer(range.start.milliseconds)] })
                while try before.step() { runs.append(Self.healthRun(from: before)) }
            }
            return Dictionary(grouping: runs, by: \.backendID).mapValues { runs in
                Self.history(of: runs.sorted { ($0.firstAt, $0.id) < ($1.firstAt, $1.id) }, in: range)
            }
        }
    }

    static let healthRunColumns = """
        id, backend_id, passed, first_at, last_at, count, latency_min_ms, latency_max_ms, latency_sum_ms, last_error,
        instance
        """

    /// Decodes one row selected with `healthRunColumns`.
    private static func healthRun(from statement: any Statement) -> HealthRun {
        let count = statement.int(5)
        return HealthRun(id: statement.int64(0), backendID: statement.int64(1), passed: statement.int64(2) != 0,
                         firstAt: Timestamp(milliseconds: statement.int64(3)),
                         lastAt: Timestamp(milliseconds: statement.int64(4)), count: count,
                         minLatencyMilliseconds: statement.double(6), maxLatencyMilliseconds: statement.double(7),
                         averageLatencyMilliseconds: statement.double(8) / Double(max(count, 1)),
                         lastError: statement.optionalText(9), instance: statement.optionalText(10))
    }

    /// One backend's runs over `range`, oldest first, measured series by series.
    private static func history(of runs: [HealthRun], in range: TimeRange) -> HealthHistory {
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
