import CSQLite

/// How many distinct request ids a set of events names, with the first few of them.
public struct RequestIDSample: Hashable, Sendable {
    /// Distinct request ids.
    public var count: Int
    /// Up to the asked number of ids, in the order they first appear in the log.
    public var sample: [String]

    public init(count: Int, sample: [String]) {
        self.count = count
        self.sample = sample
    }
}

/// The read queries behind the post-incident report (`lbctl audit`) and the per-backend counters
/// of `lbctl backends`. Every value is bound; the SQL text is fixed but for placeholder counts.
extension Store {
    /// How many events of `kind` each backend has in `range`; backends with none are absent.
    public func eventCountsByBackend(kind: EventKind, in range: TimeRange) throws -> [Int64: Int] {
        try withConnection { connection in
            let statement = try connection.statement("""
                SELECT backend_id, count(*) FROM events
                WHERE kind = ? AND at >= ? AND at < ? AND backend_id IS NOT NULL
                GROUP BY backend_id
                """)
            try statement.bind(.text(kind.rawValue), .integer(range.start.milliseconds), .integer(range.end.milliseconds))
            var counts: [Int64: Int] = [:]
            while try statement.step() { counts[statement.int64(0)] = statement.int(1) }
            return counts
        }
    }

    /// How many events of `kind` in `range` have a detail that starts with `detailPrefix`, for
    /// example the `rejected` events whose detail starts with "503".
    public func countEvents(kind: EventKind, in range: TimeRange, detailPrefix: String) throws -> Int {
        try withConnection { connection in
            // substr rather than LIKE: the prefix is matched as typed, `%` and `_` included.
            let statement = try connection.statement("""
                SELECT count(*) FROM events
                WHERE kind = ? AND at >= ? AND at < ? AND substr(detail, 1, ?) = ?
                """)
            try statement.bind(.text(kind.rawValue), .integer(range.start.milliseconds), .integer(range.end.milliseconds),
                               .integer(Int64(detailPrefix.count)), .text(detailPrefix))
            _ = try statement.step()
            return statement.int(0)
        }
    }

    /// The oldest event of `kind` in `range`, or nil.
    public func firstEvent(kind: EventKind, in range: TimeRange) throws -> Event? {
        try withConnection { connection in
            try Store.events("""
                SELECT \(Store.eventSelectColumns)
                FROM events e LEFT JOIN backends b ON b.id = e.backend_id
                WHERE e.kind = ? AND e.at >= ? AND e.at < ? ORDER BY e.at, e.id LIMIT 1
                """, [.text(kind.rawValue), .integer(range.start.milliseconds), .integer(range.end.milliseconds)],
                in: connection).first
        }
    }

    /// The newest event of `kind` in `range`, or nil.
    public func lastEvent(kind: EventKind, in range: TimeRange) throws -> Event? {
        try events(EventQuery(range: range, kinds: [kind], limit: 1)).first
    }

    /// The newest event of `kind` for one backend strictly before `instant`, or nil: what the
    /// backend's state was when a window opened.
    public func latestEvent(kind: EventKind, backendID: Int64, before instant: Timestamp) throws -> Event? {
        try withConnection { connection in
            // `+e.backend_id` steers SQLite to the (kind, at) index: status and admin changes are
            // rare, while one backend may have millions of failures to walk past.
            try Store.events("""
                SELECT \(Store.eventSelectColumns)
                FROM events e LEFT JOIN backends b ON b.id = e.backend_id
                WHERE e.kind = ? AND +e.backend_id = ? AND e.at < ? ORDER BY e.at DESC, e.id DESC LIMIT 1
                """, [.text(kind.rawValue), .integer(backendID), .integer(instant.milliseconds)],
                in: connection).first
        }
    }

    /// The distinct request ids named by events of `kinds` in `range`: their number, and the
    /// first `sampleSize` of them in order of first appearance.
    public func requestIDs(in range: TimeRange, kinds: [EventKind], sampleSize: Int) throws -> RequestIDSample {
        guard !kinds.isEmpty else { return RequestIDSample(count: 0, sample: []) }
        let filter = """
            FROM events WHERE at >= ? AND at < ? AND request_id IS NOT NULL
                AND kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))
            """
        let values: [SQLValue] = [.integer(range.start.milliseconds), .integer(range.end.milliseconds)]
            + kinds.map { .text($0.rawValue) }
        return try withConnection { connection in
            let counter = try connection.statement("SELECT count(DISTINCT request_id) \(filter)")
            try counter.bind(values)
            _ = try counter.step()
            let count = counter.int(0)
            let sampler = try connection.statement(
                "SELECT request_id \(filter) GROUP BY request_id ORDER BY min(at), min(id) LIMIT ?")
            try sampler.bind(values + [.integer(Int64(max(0, sampleSize)))])
            var sample: [String] = []
            while try sampler.step() { sample.append(sampler.text(0)) }
            return RequestIDSample(count: count, sample: sample)
        }
    }
}

/// How many events of one kind one backend (or the balancer itself) has in one slice of a window.
public struct EventBin: Hashable, Sendable {
    /// The backend, or nil for events that name none (the balancer's own 503s, restarts).
    public var backendID: Int64?
    public var kind: EventKind
    /// The slice, 0 ..< the number of slices asked for.
    public var index: Int
    public var count: Int

    public init(backendID: Int64?, kind: EventKind, index: Int, count: Int) {
        self.backendID = backendID
        self.kind = kind
        self.index = index
        self.count = count
    }
}

extension Store {
    /// Events of `kinds` in `range`, counted per backend, kind and slice when the range is cut in
    /// `binCount` equal slices: the density of failures a timeline draws without reading every row.
    public func eventHistogram(kinds: [EventKind], in range: TimeRange, binCount: Int) throws -> [EventBin] {
        let duration = range.durationMilliseconds
        guard !kinds.isEmpty, binCount > 0, duration > 0 else { return [] }
        let sql = """
            SELECT backend_id, kind, (at - ?) * ? / ? AS slice, count(*) FROM events
            WHERE at >= ? AND at < ? AND kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))
            GROUP BY backend_id, kind, slice
            """
        let values: [SQLValue] = [.integer(range.start.milliseconds), .integer(Int64(binCount)), .integer(duration),
                                  .integer(range.start.milliseconds), .integer(range.end.milliseconds)]
            + kinds.map { .text($0.rawValue) }
        return try withConnection { connection in
            let statement = try connection.statement(sql)
            try statement.bind(values)
            var bins: [EventBin] = []
            while try statement.step() {
                guard let kind = EventKind(rawValue: statement.text(1)) else { continue }
                bins.append(EventBin(backendID: statement.optionalInt64(0), kind: kind,
                                     index: min(binCount - 1, statement.int(2)), count: statement.int(3)))
            }
            return bins
        }
    }
}
