import Atomics

/// An immutable list of the backends that may receive traffic (admin state `enabled`), in
/// registry order. A change builds a new snapshot and swaps it in; readers never lock.
final class BackendSnapshot: AtomicReference, Sendable {
    let backends: [BackendRuntime]

    init(_ backends: [BackendRuntime]) {
        self.backends = backends
    }

    static let empty = BackendSnapshot([])
}
