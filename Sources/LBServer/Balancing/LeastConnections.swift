/// `least-connections`, weighted as nginx's `least_conn`: the backend with the fewest requests
/// in flight for its effective weight (in-flight ÷ weight, compared by cross-multiplying, so no
/// division), ties broken by smooth weighted round robin, so idle backends share by weight.
///
/// Reads each backend's `inFlight` atomic; the tie-breaker's current weights are its only
/// shared state (see `SmoothWeightedRoundRobin` for why atomics).
final class LeastConnections: Balancer {
    private let tieBreaker: SmoothWeightedRoundRobin
    private var slowStart: SlowStart { tieBreaker.slowStart }

    init(slowStart: SlowStart = .off) {
        tieBreaker = SmoothWeightedRoundRobin(slowStart: slowStart)
    }

    var current: BackendSnapshot { tieBreaker.current }

    func replace(with snapshot: BackendSnapshot) {
        tieBreaker.replace(with: snapshot)
    }

    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime? {
        let plan = tieBreaker.currentPlan
        var now: UInt64 = 0
        var leastLoaded: BackendRuntime?
        var leastInFlight = 0
        var leastWeight = 0
        for backend in plan.snapshot.backends where backend.isEligible(excluding: excluded) {
            let weight = slowStart.effectiveWeight(of: backend, now: &now)
            guard weight > 0 else { continue }
            let inFlight = max(0, backend.inFlight.load(ordering: .relaxed))
            if leastLoaded == nil || inFlight * leastWeight < leastInFlight * weight {
                leastLoaded = backend
                leastInFlight = inFlight
                leastWeight = weight
            }
        }
        guard let leastLoaded else { return nil }
        let tied = tieBreaker.pick(in: plan) { backend in
            guard backend.isEligible(excluding: excluded) else { return 0 }
            let weight = slowStart.effectiveWeight(of: backend, now: &now)
            let inFlight = max(0, backend.inFlight.load(ordering: .relaxed))
            return inFlight * leastWeight == leastInFlight * weight ? weight : 0
        }
        // In-flight counts move under us; if no backend ties any more, the first pass stands.
        return tied ?? leastLoaded
    }
}
