/// Chooses the backend of each request from the current snapshot of enabled backends.
///
/// Every member may be called from any thread at once. `nextBackend` is the hot path: it takes no
/// lock and reads health, admin state and weights from each `BackendRuntime`'s atomics, so a
/// health flip counts at once, without a new snapshot. `replace` is called rarely (a registry
/// change) and is where an algorithm precomputes what it needs for the new backends.
protocol Balancer: AnyObject, Sendable {
    /// Swaps in the backends that may receive traffic.
    func replace(with snapshot: BackendSnapshot)

    /// The backends currently given to the balancer.
    var current: BackendSnapshot { get }

    /// The round-robin cursor to save across restarts, or nil for an algorithm without one (the
    /// saved cursor is then left as it was, for the next run under round robin).
    var cursorToSave: Int? { get }

    /// The backend for a request, or nil when none is left: one that is not down, is enabled, has
    /// not been tried for this request (`excluded`) and, for the weighted algorithms, has a weight
    /// above 0. `key` is the request's hash key; only `hash` reads it, and it is nil for the others.
    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime?
}

extension Balancer {
    var cursorToSave: Int? { nil }

    /// The backend for a new request (nothing tried yet).
    func nextBackend(for key: BalancingKey?) -> BackendRuntime? {
        nextBackend(for: key, excluding: [])
    }
}
