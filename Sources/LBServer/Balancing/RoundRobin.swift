import Atomics
import Synchronization

/// The seed's round robin: an atomic counter over the snapshot, walking the ring from the next
/// index past dead backends and moving the cursor to the one chosen.
///
/// Lock-free: any event loop may call `nextBackend` concurrently.
final class RoundRobin: Sendable {
    private let snapshot: ManagedAtomic<BackendSnapshot>
    private let counter: Atomic<Int>

    init(cursor: Int = 0) {
        snapshot = ManagedAtomic(.empty)
        counter = Atomic(max(0, cursor))
    }

    /// The backends currently eligible for traffic.
    var current: BackendSnapshot { snapshot.load(ordering: .acquiring) }

    /// Replaces the eligible backends.
    func replace(with newSnapshot: BackendSnapshot) {
        snapshot.store(newSnapshot, ordering: .releasing)
    }

    /// The round-robin cursor, to be saved and restored across restarts.
    var cursor: Int { counter.load(ordering: .relaxed) }

    /// The next alive backend not in `excluded`, or nil if there is none (the seed's `GetNextPeer`).
    func nextBackend(excluding excluded: [Int64] = []) -> BackendRuntime? {
        let backends = snapshot.load(ordering: .acquiring).backends
        let count = backends.count
        guard count > 0 else { return nil }
        // `NextIndex`: the counter only grows; wrapping keeps it non-negative for the modulo.
        let next = Int(UInt(bitPattern: counter.wrappingAdd(1, ordering: .relaxed).oldValue &+ 1) % UInt(count))
        for step in 0..<count {
            let index = (next + step) % count
            let backend = backends[index]
            guard backend.isAlive, backend.hasRoom, !excluded.contains(backend.id) else { continue }
            if step != 0 {
                counter.store(index, ordering: .relaxed)
            }
            return backend
        }
        return nil
    }
}

/// Round robin ignores weights, slow start and keys: it is the seed's algorithm, unchanged.
extension RoundRobin: Balancer {
    var cursorToSave: Int? { cursor }

    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime? {
        nextBackend(excluding: excluded)
    }
}
