import CSQLite

extension Store {
    /// The health runs of one backend that overlap `range`, oldest first, with the uptime ratio.
    ///
    /// A run stands for the time from its first check until the next run began (the latest run:
    /// until its last check). Uptime is the passing share of that time inside `range`.
    public func healthHistory(backendID: Int64, in range: TimeRange) throws -> HealthHistory {
        // Each daemon's checks are a series of their own: in a fleet the runs of several
        // instances overlap in time, so each series is measured apart. Per series, the runs that
        // began in the window and the one in effect at its start (the latest that began by then),
        // each a seek in `health_runs_series` (schema v9).
        let runs: [HealthRun] = try withConnection { connection in
            let names = try connection.statement("SELECT DISTINCT instance FROM health_runs WHERE backend_id = ?")
            try names.bind(.integer(backendID))
            var instances: [String?] = []
            while try names.step() { instances.append(names.optionalText(0)) }
            var runs: [HealthRun] = []
            for instance in instances {
                let series = Self.seriesCondition(instance, column: "instance")
                let statement = try connection.statement("""
                    SELECT \(Self.healthRunColumns) FROM health_runs
                    WHERE backend_id = ? AND \(series.sql) AND first_at < ? AND first_at >= coalesce(
                        (SELECT max(first_at) FROM health_runs WHERE backend_id = ? AND \(series.sql) AND first_at <= ?), ?)
                    ORDER BY first_at, id
                    """)
                try statement.bind([.integer(backendID)] + series.values + [.integer(range.end.milliseconds), .integer(backendID)]
                                   + series.values + [.integer(range.start.milliseconds), .integer(range.start.milliseconds)])
                while try statement.step() { runs.append(Self.healthRun(from: statement)) }
            }
            return runs.sorted { ($0.firstAt, $0.id) < ($1.firstAt, $1.id) }
        }
        return Self.history(of: runs, in: range)
    }

    /// `column` matching one series' instance, as an index reads it on both engines: `IS NULL`
    /// for the unnamed series, `= ?` for a named one.
    static func seriesCondition(_ instance: String?, column: String) -> (sql: String, values: [SQLValue]) {
        instance.map { ("\(column) = ?", [.text($0)]) } ?? ("\(column) IS NULL", [])
    }

    /// Every backend's health over `range` (those with no check in it are left out), as
    /// `healthHistory` gives each, in three statements whatever the registry's size, for
    /// `lbctl backends`, which shows each backend's uptime over a day:
    /// - the runs that ended in the window (a bounded range of `health_runs_last`);
    /// - for every backend and series (unnamed, and each daemon in `instances`), the run that
    ///   spans the window's end and the one in effect at its start, each a seek in
    ///   `health_runs_series`; a run that began in the window either ended in it or spans its end;
    /// - those runs, by id.
    public func healthHistories(in range: TimeRange) throws -> [Int64: HealthHistory] {
        let instances = try self.instances().map(\.identity.name)
        return try withConnection { connection in
            var byID: [Int64: HealthRun] = [:]
            let ended = try connection.statement("""
                SELECT \(Self.healthRunColumns) FROM health_runs WHERE last_at >= ? AND last_at < ? AND first_at < ?
                """)
            try ended.bind(.integer(range.start.milliseconds), .integer(range.end.milliseconds), .integer(range.end.milliseconds))
            while try ended.step() {
                let run = Self.healthRun(from: ended)
                byID[run.id] = run
            }
            // The series: unnamed, each daemon that registered, and any other a run in the window names.
            let names = Set(instances).union(byID.values.compactMap(\.instance)).sorted()
            // PostgreSQL reads a backward scan of the index as this order only when every column
            // is named (an `IS NULL` column does not count as fixed); SQLite needs no more.
            let newestFirst = dialect == .postgres
                ? "r.backend_id DESC, r.instance DESC NULLS FIRST, r.first_at DESC, r.id DESC"
                : "r.first_at DESC, r.id DESC"
            var columns: [String] = []
            var values: [SQLValue] = []
            for instance in [nil] + names.map(Optional.some) {
                let series = Self.seriesCondition(instance, column: "r.instance")
                for (bound, instant) in [("<", range.end), ("<=", range.start)] {
                    columns.append("""
                        (SELECT r.id FROM health_runs r WHERE r.backend_id = b.id AND \(series.sql)
                            AND r.first_at \(bound) ? ORDER BY \(newestFirst) LIMIT 1)
                        """)
                    values += series.values + [.integer(instant.milliseconds)]
                }
            }
            let seeks = try connection.statement("SELECT \(columns.joined(separator: ", ")) FROM backends b")
            try seeks.bind(values)
            var wanted: Set<Int64> = []
            while try seeks.step() {
                for column in 0..<Int32(columns.count) { if let id = seeks.optionalInt64(column) { wanted.insert(id) } }
            }
            wanted.subtract(byID.keys)
            for chunk in Array(wanted).sorted().chunked(500) where !chunk.isEmpty {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                let read = try connection.statement("SELECT \(Self.healthRunColumns) FROM health_runs WHERE id IN (\(placeholders))")
                try read.bind(chunk.map { .integer($0) })
                while try read.step() {
                    let run = Self.healthRun(from: read)
                    byID[run.id] = run
                }
            }
            // A run that ended before the window counts only as the one in effect at its start
            // (`history` drops it when a later one began by then).
            let runs = byID.values.filter { $0.firstAt < range.end }
            return Dictionary(grouping: runs, by: \.backendID).mapValues { runs in
                let series = Dictionary(grouping: runs, by: \.instance).values.flatMap { runs in
                    let sorted = runs.sorted { ($0.firstAt, $0.id) < ($1.firstAt, $1.id) }
                    // Only the latest run that began by the start stands in effect there.
                    let inEffect = sorted.lastIndex { $0.firstAt <= range.start } ?? 0
                    return Array(sorted[inEffect...])
                }
                return Self.history(of: series.sorted { ($0.firstAt, $0.id) < ($1.firstAt, $1.id) }, in: range)
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
