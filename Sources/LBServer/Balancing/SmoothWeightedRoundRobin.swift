import Atomics
import Synchronization

/// `weighted`: smooth weighted round robin as nginx does it. Each pick adds every eligible
/// backend's effective weight to its current weight, takes the backend whose current weight is
/// highest, and subtracts the total of the weights from it. Weights 5, 1, 1 give
/// a a b a c a a: exact shares, spread out rather than in bursts.
///
/// Concurrency: the current weights are one atomic per backend per snapshot, shared by every
/// event loop, not a lock and not per-event-loop copies. Each addition and subtraction is an
/// atomic read-modify-write, so the sum of the current weights stays exact however picks
/// interleave; two racing picks may read a value mid-update and choose differently from a serial
/// run, but the backend they passed over is then further ahead next time, so shares stay exact
/// over time. Per-event-loop copies (nginx's per-worker state) would touch no shared cache line,
/// but each loop would then run its own sequence and a loop serving few requests would always
/// start at the heaviest backend. A pick costs one atomic add per eligible backend.
final class SmoothWeightedRoundRobin: Balancer {
    /// A snapshot and the current weight of each of its backends, reset when the snapshot is
    /// rebuilt (a registry or weight change), as nginx resets them on reload.
    final class Plan: AtomicReference, Sendable {
        let snapshot: BackendSnapshot
        let currentWeights: [CurrentWeight]

        init(_ snapshot: BackendSnapshot) {
            self.snapshot = snapshot
            currentWeights = snapshot.backends.map { _ in CurrentWeight() }
        }
    }

    /// One backend's current weight in a plan; a class, since an `Atomic` cannot be copied into
    /// an array.
    final class CurrentWeight: Sendable {
        let value = Atomic<Int>(0)
    }

    let slowStart: SlowStart
    private let plan: ManagedAtomic<Plan>

    init(slowStart: SlowStart = .off) {
        self.slowStart = slowStart
        plan = ManagedAtomic(Plan(.empty))
    }

    var current: BackendSnapshot { currentPlan.snapshot }

    var currentPlan: Plan { plan.load(ordering: .acquiring) }

    func replace(with snapshot: BackendSnapshot) {
        plan.store(Plan(snapshot), ordering: .releasing)
    }

    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime? {
        var now: UInt64 = 0
        return pick(in: currentPlan) { backend in
            backend.isEligible(excluding: excluded) ? slowStart.effectiveWeight(of: backend, now: &now) : 0
        }
    }

    /// One step of smooth weighted round robin over the backends of `plan` to which `weight`
    /// gives a weight above 0 (others neither take part nor gain current weight).
    func pick(in plan: Plan, weight: (BackendRuntime) -> Int) -> BackendRuntime? {
        var best = -1
        var bestCurrent = Int.min
        var total = 0
        for (index, backend) in plan.snapshot.backends.enumerated() {
            let effective = weight(backend)
            guard effective > 0 else { continue }
            let current = plan.currentWeights[index].value.wrappingAdd(effective, ordering: .relaxed).newValue
            total += effective
            if current > bestCurrent {
                best = index
                bestCurrent = current
            }
        }
        guard best >= 0 else { return nil }
        plan.currentWeights[best].value.wrappingSubtract(total, ordering: .relaxed)
        return plan.snapshot.backends[best]
    }
}
