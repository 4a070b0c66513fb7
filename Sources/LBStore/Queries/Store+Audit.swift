import CSQLite

/// How many distinct requests a set of events names, with the first few of their ids.
public struct RequestIDSample: Hashable, Sendable {
    /// Distinct requests: the ids the log names, plus the requests a coalesced row counts but
    /// names no id for (see `Store.requestIDs(in:kinds:sampleSize:)`).
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
    /// How many events of `kind` each backend has in `range` (coalesced rows counted as the
    /// occurrences they stand for); backends with none are absent.
    public func eventCountsByBackend(kind: EventKind, in range: TimeRange) throws -> [Int64: Int] {
        try withConnection { connection in
            let statement = try connection.statement("""
                SELECT backend_id, sum(count) FROM events
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
    /// example the `rejected` events whose detail starts with "503"; coalesced rows count as the
    /// occurrences they stand for.
    public func countEvents(kind: EventKind, in range: TimeRange, detailPrefix: String) throws -> Int {
        try withConnection { connection in
            // substr rather than LIKE: the prefix is matched as typed, `%` and `_` included.
            let statement = try connection.statement("""
                SELECT coalesce(sum(count), 0) FROM events
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

    /// The distinct requests named by events of `kinds` in `range`: their number, and the first
    /// `sampleSize` ids in order of first appearance.
    ///
    /// Ids come from the `request_id` column and from the sampled `request_ids` of coalesced rows.
    /// A coalesced row counts more requests than it samples; those it does not name are added to
    /// the count only for rows without a backend (the 503s of an empty pool, refused requests):
    /// such a request reached no backend, so no other event names it and it cannot be counted
    /// twice. A coalesced row with a backend (502/504 after failed tries) adds only its samples,
    /// as each of its requests is named by the `failure` event of its last try, which the audit
    /// reads too. The count is exact under these rules; it cannot tell apart two occurrences that
    /// carried the same client-chosen request id beyond a row's sample.
    public func requestIDs(in range: TimeRange, kinds: [EventKind], sampleSize: Int) throws -> RequestIDSample {
        guard !kinds.isEmpty else { return RequestIDSample(count: 0, sample: []) }
        let filter = """
            e.at >= ? AND e.at < ? AND e.kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))
            """
        let values: [SQLValue] = [.integer(range.start.milliseconds), .integer(range.end.milliseconds)]
            + kinds.map { .text($0.rawValue) }
        // Samples of rows that stand for one occurrence repeat the row's own request id.
        let named = """
            WITH named(request_id, at, id, position) AS (
                SELECT e.request_id, e.at, e.id, 0 FROM events e WHERE \(filter) AND e.request_id IS NOT NULL
                UNION ALL
                SELECT j.value, e.at, e.id, j.key
                FROM events e, \(dialect == .sqlite
                    ? "json_each(CASE WHEN json_valid(e.data) THEN e.data END, '$.request_ids') j"
                    : "jsonb_array_elements_text(e.data->'request_ids') WITH ORDINALITY AS j(value, key)")
                WHERE \(filter) AND e.count > 1
            )
            """
        let sampleCount = dialect == .sqlite
            ? "CASE WHEN json_valid(e.data) THEN json_array_length(e.data, '$.request_ids') END"
            : "CASE WHEN jsonb_typeof(e.data->'request_ids') = 'array' THEN jsonb_array_length(e.data->'request_ids') END"
        return try withConnection { connection in
            let counter = try connection.statement("\(named) SELECT count(DISTINCT request_id) FROM named")
            try counter.bind(values + values)
            _ = try counter.step()
            var count = counter.int(0)
            let unnamed = try connection.statement("""
                SELECT coalesce(sum(e.count - coalesce(\(sampleCount), 0)), 0)
                FROM events e WHERE \(filter) AND e.count > 1 AND e.backend_id IS NULL
                """)
            try unnamed.bind(values)
            _ = try unnamed.step()
            count += max(0, unnamed.int(0))
            let sampler = try connection.statement(
                "\(named) SELECT request_id FROM named GROUP BY request_id ORDER BY min(at), min(id), min(position) LIMIT ?")
            try sampler.bind(values + values + [.integer(Int64(max(0, sampleSize)))])
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
    /// A coalesced row falls in the slice of its first occurrence with all it stands for.
    public func eventHistogram(kinds: [EventKind], in range: TimeRange, binCount: Int) throws -> [EventBin] {
        let duration = range.durationMilliseconds
        guard !kinds.isEmpty, binCount > 0, duration > 0 else { return [] }
        let sql = """
            SELECT backend_id, kind, (at - ?) * ? / ? AS slice, sum(count) FROM events
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
