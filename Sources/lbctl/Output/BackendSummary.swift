import LBStore

/// One line of `lbctl backends`: a registry row with its uptime and failures over the last day.
struct BackendSummary: Sendable {
    var backend: Backend
    /// Passing share of the checked time in the window, nil without checks.
    var uptime: Double?
    /// The part of the window the checks saw, over which `uptime` is measured (`HealthHistory.observed`).
    var observed: TimeRange?
    var failures: Int
    /// For `lbctl backends --at`: the backend as rebuilt from the log at that instant.
    var past: PastBackendState?
    /// The health each running daemon sees, by instance name: now, those `lbctl instances` lists
    /// as running; for `--at`, those the log has running then, each with its latest status change.
    var views: [InstanceHealth] = []
    /// Since when the backend is not checked (it is disabled: no daemon checks it), nil while it
    /// is. Its stored health is then only what the checks said before they stopped.
    var uncheckedSince: Timestamp?

    /// The health to show: the checks' verdict, or `not_checked` for a backend nobody checks.
    var shownHealth: String { uncheckedSince == nil ? backend.health.rawValue : Self.notChecked }
    /// Since when `shownHealth` holds.
    var shownHealthSince: Timestamp { uncheckedSince ?? backend.healthSince }

    static let notChecked = "not_checked"

    /// The fleet's health when more than one running daemon has a view: the health most of them
    /// see, and on how many of how many ("up on 2 of 3"); nil with one daemon or none.
    var fleetHealth: (health: Health, agreeing: Int, of: Int)? {
        guard views.count > 1 else { return nil }
        let counts = Dictionary(grouping: views, by: \.health).mapValues(\.count)
        // Worse first, and replaced only by a larger count: a tie goes to the worse health.
        var best = Health.down
        for health in [Health.unknown, .up] where (counts[health] ?? 0) > (counts[best] ?? 0) { best = health }
        return (best, counts[best] ?? 0, views.count)
    }

    /// The span `uptime` and `failures` cover.
    static let windowMilliseconds: Int64 = 24 * 3_600_000

    /// How long the checks observed, when clearly less than the window (a backend added, enabled
    /// or first checked within it, or whose checks stopped): what its uptime is measured over.
    /// Nil for a backend observed all the window (up to a minute short: the last check is at most
    /// a check interval old) or never checked.
    var observedLessThanWindow: Int64? {
        guard let observed, uptime != nil else { return nil }
        let span = observed.durationMilliseconds
        return span < Self.windowMilliseconds - 60_000 ? span : nil
    }

    /// Reads every backend (removed ones too when asked) and its last-24-hours figures.
    static func load(from store: Store, includeRemoved: Bool, now: Timestamp) throws -> [BackendSummary] {
        let window = TimeRange(start: now.adding(milliseconds: -windowMilliseconds), end: now)
        let failures = try store.eventCountsByBackend(kind: .failure, in: window)
        let running = Set(try store.instances().filter { $0.state(at: now) == .running }.map(\.identity.name))
        let views = try store.healthByInstance().mapValues { $0.filter { running.contains($0.instance) } }
        let histories = try store.healthHistories(in: window)
        return try store.backends(includeRemoved: includeRemoved).map { backend in
            guard backend.adminState == .disabled else {
                return BackendSummary(backend: backend, uptime: histories[backend.id]?.uptime,
                                      observed: histories[backend.id]?.observed,
                                      failures: failures[backend.id] ?? 0, views: views[backend.id] ?? [])
            }
            // Unchecked since the change that disabled it, or since its (re-)add declared it disabled.
            let disabledAt = try [RecordedChange.ActionName.adminState, RecordedChange.ActionName.add].compactMap { action in
                try store.adminChanges(backend.id, action: action, before: .end(of: now), limit: 1).first?.at
            }.max()
            return BackendSummary(backend: backend, uptime: histories[backend.id]?.uptime,
                                  observed: histories[backend.id]?.observed,
                                  failures: failures[backend.id] ?? 0, uncheckedSince: disabledAt ?? backend.addedAt)
        }
    }

    /// The registry as it stood at `instant`, rebuilt from the event log (`PastBackendState`), with
    /// uptime and failures over the 24 hours before it. Only the rows' ids and URLs are read from
    /// the registry table: a backend keeps both for good.
    static func load(from store: Store, includeRemoved: Bool, at instant: Timestamp,
                     firstRecord: Timestamp) throws -> [BackendSummary] {
        let window = TimeRange(start: instant.adding(milliseconds: -windowMilliseconds), end: instant)
        let failures = try store.eventCountsByBackend(kind: .failure, in: window)
        let running = try store.instancesRunning(at: .end(of: instant))
        let histories = try store.healthHistories(in: window)
        // Every backend's latest changes in two statements, not a round trip per change.
        let latest = try store.latestChanges(before: .end(of: instant), actions: PastBackendState.prefetchedActions,
                                             instances: running)
        return try store.backends(includeRemoved: true).compactMap { row in
            let prefetched = latest[row.id]
            guard let past = try PastBackendState.load(row, at: instant, firstRecord: firstRecord, prefetched: prefetched,
                                                       from: store),
                  past.isRegistered || includeRemoved
            else { return nil }
            guard past.adminState != .disabled else {
                return BackendSummary(backend: past.backend, uptime: histories[row.id]?.uptime,
                                      observed: histories[row.id]?.observed,
                                      failures: failures[row.id] ?? 0, past: past, uncheckedSince: past.adminStateSince)
            }
            let views = try past.views(of: running, prefetched: prefetched, from: store)
            return BackendSummary(backend: past.backend, uptime: histories[row.id]?.uptime,
                                  observed: histories[row.id]?.observed, failures: failures[row.id] ?? 0,
                                  past: past, views: views.map { $0.instanceHealth(since: past.addedAt) })
        }
    }
}
