import LBStore

/// One line of `lbctl backends`: a registry row with its uptime and failures over the last day.
struct BackendSummary: Sendable {
    var backend: Backend
    /// Passing share of the checked time in the window, nil without checks.
    var uptime: Double?
    var failures: Int

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
}
