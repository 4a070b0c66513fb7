import Atomics

/// `hash`: consistent hashing on a ring of virtual nodes (ketama-style). Each backend owns
/// `pointsPerWeight` × weight points placed at stable hashes of its URL; a request goes to the
/// owner of the first point at or after its key's hash. A backend that is down, drained,
/// excluded or of weight 0 passes its keys on to the next owner along the ring, and only those
/// keys move; adding or removing one of n backends moves only the arcs it gains or loses,
/// about 1/n of the keys.
///
/// The ring is built once per snapshot (a registry or weight change), off the hot path; a pick
/// is a binary search and a short walk. Slow start: a ramping backend keeps a key with a
/// probability equal to its ramp (a fixed hash of key and backend under the ramped fraction),
/// passing the rest along the ring, so its share grows linearly and a key it took stays with it.
final class ConsistentHash: Balancer {
    /// Ring points per unit of weight (ketama's 160): shares within a few percent of the weights.
    static let pointsPerWeight = 160
    /// Above this many points in all, every backend's count is scaled down in proportion.
    static let maximumPoints = 1 << 16

    /// A snapshot and its ring: point hashes in ascending order and the index of each point's
    /// backend in the snapshot.
    final class Ring: AtomicReference, Sendable {
        let snapshot: BackendSnapshot
        let points: [UInt64]
        let owners: [Int32]
        /// Per backend, a stable hash of its URL, mixed into the key for slow start's draw.
        let salts: [UInt64]

        init(_ snapshot: BackendSnapshot) {
            self.snapshot = snapshot
            let backends = snapshot.backends
            salts = backends.map { BalancingKey(bytes: $0.url.text.utf8).hash }
            let weights = backends.map { min(max($0.weight, 0), SlowStart.maximumWeight) }
            let wanted = Double(weights.reduce(0, +)) * Double(ConsistentHash.pointsPerWeight)
            let factor = min(1, Double(ConsistentHash.maximumPoints) / max(wanted, 1))
            var placed: [(hash: UInt64, owner: Int32)] = []
            for (index, backend) in backends.enumerated() where weights[index] > 0 {
                let count = max(1, Int(Double(weights[index] * ConsistentHash.pointsPerWeight) * factor))
                for point in 0..<count {
                    placed.append((BalancingKey(bytes: "\(backend.url.text)#\(point)".utf8).hash, Int32(index)))
                }
            }
            placed.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.owner < $1.owner }
            points = placed.map(\.hash)
            owners = placed.map(\.owner)
        }

        /// The index of the first point at or after `hash`, wrapping to 0 past the last.
        func firstPoint(atOrAfter hash: UInt64) -> Int {
            var low = 0
            var high = points.count
            while low < high {
                let middle = (low + high) / 2
                if points[middle] < hash { low = middle + 1 } else { high = middle }
            }
            return low == points.count ? 0 : low
        }
    }

    let slowStart: SlowStart
    private let ring = ManagedAtomic(Ring(.empty))
    /// Spreads requests that come without a key (none do in the daemon) around the ring.
    private let keyless = SplitMixRandom()

    init(slowStart: SlowStart = .off) {
        self.slowStart = slowStart
    }

    var current: BackendSnapshot { ring.load(ordering: .acquiring).snapshot }

    func replace(with snapshot: BackendSnapshot) {
        ring.store(Ring(snapshot), ordering: .releasing)
    }

    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime? {
        let ring = ring.load(ordering: .acquiring)
        let count = ring.points.count
        guard count > 0 else { return nil }
        let hash = key?.hash ?? keyless.next()
        var index = ring.firstPoint(atOrAfter: hash)
        var now: UInt64 = 0
        var previousOwner: Int32 = -1
        for _ in 0..<count {
            let owner = ring.owners[index]
            if owner != previousOwner {
                previousOwner = owner
                let backend = ring.snapshot.backends[Int(owner)]
                if backend.isEligible(excluding: excluded),
                   takes(hash, backend, salt: ring.salts[Int(owner)], now: &now) {
                    return backend
                }
            }
            index = index + 1 == count ? 0 : index + 1
        }
        return nil
    }

    /// Whether `backend` keeps the key: always at full weight; while it ramps, for the fraction
    /// of keys its ramp has reached (the same keys, and more of them, as the ramp goes on).
    private func takes(_ hash: UInt64, _ backend: BackendRuntime, salt: UInt64, now: inout UInt64) -> Bool {
        let full = SlowStart.fullWeight(of: backend)
        // Weight 0 since the ring was built: it takes nothing until the rebuild drops it.
        guard full > 0 else { return false }
        let effective = slowStart.effectiveWeight(of: backend, now: &now)
        guard effective < full else { return true }
        return Int(SplitMixRandom.mix(hash ^ salt) % UInt64(full)) < effective
    }
}
