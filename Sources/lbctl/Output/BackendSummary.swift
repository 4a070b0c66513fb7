import LBStore

/// One line of `lbctl backends`: a registry row with its uptime and failures over the last day.
struct BackendSummary: Sendable {
    var backend: Backend
    /// Passing share of the checked time in the window, nil without checks.
    var uptime: Double?
    var failures: Int
    /// For `lbctl backends --at`: the backend as rebuilt from the log at that instant.
    var past: PastBackendState?

    /// The span `uptime` and `failures` cover.
    static let windowMilliseconds: Int64 = 24 * 3_600_000

    /// Reads every backend (removed ones too when asked) and its last-24-hours figures.
    static func load(from store: Store, includeRemoved: Bool, now: Timestamp) throws -> [BackendSummary] {
        let window = TimeRange(start: now.adding(milliseconds: -windowMilliseconds), end: now)
        let failures = try store.eventCountsByBackend(kind: .failure, in: window)
        return try store.backends(includeRemoved: includeRemoved).map { backend in
            let history = try store.healthHistory(backendID: backend.id, in: window)
            return BackendSummary(backend: backend, uptime: history.uptime, failures: failures[backend.id] ?? 0)
        }
    }

    /// The registry as it stood at `instant`, rebuilt from the event log (`PastBackendState`), with
    /// uptime and failures over the 24 hours before it. Only the rows' ids and URLs are read from
    /// the registry table: a backend keeps both for good.
    static func load(from store: Store, includeRemoved: Bool, at instant: Timestamp,
                     firstRecord: Timestamp) throws -> [BackendSummary] {
        let window = TimeRange(start: instant.adding(milliseconds: -windowMilliseconds), end: instant)
        let failures = try store.eventCountsByBackend(kind: .failure, in: window)
        return try store.backends(includeRemoved: true).compactMap { row in
            guard let past = try PastBackendState.load(row, at: instant, firstRecord: firstRecord, from: store),
                  past.isRegistered || includeRemoved
            else { return nil }
            let history = try store.healthHistory(backendID: row.id, in: window)
            return BackendSummary(backend: past.backend, uptime: history.uptime, failures: failures[row.id] ?? 0,
                                  past: past)
        }
    }
}
