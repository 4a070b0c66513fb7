import Atomics

/// `p2c`, power of two random choices: two distinct eligible backends drawn at random in
/// proportion to their effective weights, and the one with fewer requests in flight for its
/// weight takes the request (the first drawn on a tie, so idle backends share by weight). Close
/// to least-connections in load, but concurrent picks seldom pile onto the same backend.
///
/// The random source is an atomic SplitMix64 (seedable for tests); a pick walks the eligible
/// backends three times without allocating, which for the tens of backends a balancer has costs
/// less than keeping per-snapshot weight tables in step with health flips and slow start.
final class PowerOfTwoChoices: Balancer {
    let slowStart: SlowStart
    private let random: SplitMixRandom
    private let snapshot = ManagedAtomic(BackendSnapshot.empty)

    init(random: SplitMixRandom = SplitMixRandom(), slowStart: SlowStart = .off) {
        self.random = random
        self.slowStart = slowStart
    }

    var current: BackendSnapshot { snapshot.load(ordering: .acquiring) }

    func replace(with newSnapshot: BackendSnapshot) {
        snapshot.store(newSnapshot, ordering: .releasing)
    }

    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime? {
        let backends = current.backends
        var now: UInt64 = 0
        func weight(_ backend: BackendRuntime) -> Int {
            backend.isEligible(excluding: excluded) ? slowStart.effectiveWeight(of: backend, now: &now) : 0
        }
        // The backend at `target` along the line of weights, leaving out `skipped`; the last one
        // with a weight if health flips made the line shorter than it was when summed.
        func draw(_ target: Int, skipping skipped: BackendRuntime?) -> (backend: BackendRuntime, weight: Int)? {
            var remaining = target
            var last: (backend: BackendRuntime, weight: Int)?
            for backend in backends where backend !== skipped {
                let weight = weight(backend)
                guard weight > 0 else { continue }
                if remaining < weight { return (backend, weight) }
                remaining -= weight
                last = (backend, weight)
            }
            return last
        }
        let total = backends.reduce(0) { $0 + weight($1) }
        guard total > 0, let first = draw(random.next(below: total), skipping: nil) else { return nil }
        guard total > first.weight,
              let second = draw(random.next(below: total - first.weight), skipping: first.backend)
        else { return first.backend }
        let firstLoad = max(0, first.backend.inFlight.load(ordering: .relaxed))
        let secondLoad = max(0, second.backend.inFlight.load(ordering: .relaxed))
        return secondLoad * first.weight < firstLoad * second.weight ? second.backend : first.backend
    }
}
