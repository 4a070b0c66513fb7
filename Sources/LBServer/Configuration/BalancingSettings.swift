import NIOCore

/// How the balancer chooses backends: the algorithm, what `hash` hashes, and slow start.
struct BalancingSettings: Sendable {
    var algorithm: BalancingAlgorithm = .roundRobin
    /// Read only by the `hash` algorithm.
    var hashKey: HashKey = .clientAddress
    /// How long a backend that came back up takes to reach its full weight; zero is off.
    var slowStart: TimeAmount = .zero

    /// The balancer these settings describe; `cursor` is the saved round-robin cursor.
    func makeBalancer(cursor: Int) -> any Balancer {
        let slowStart = SlowStart(duration: slowStart)
        return BackupAwareBalancer(primaries: algorithm.makeBalancer(cursor: cursor, slowStart: slowStart),
                                   backups: algorithm.makeBalancer(cursor: 0, slowStart: slowStart))
    }

    /// What each request must be keyed by: nil unless the algorithm hashes, so the others
    /// compute nothing per request.
    var requestKey: HashKey? { algorithm == .hash ? hashKey : nil }
}
