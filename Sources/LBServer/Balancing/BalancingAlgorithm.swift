/// The algorithms `--algorithm` (config `algorithm:`) names.
enum BalancingAlgorithm: String, CaseIterable, Sendable {
    /// The seed's: next in turn among the alive; weights are not read.
    case roundRobin = "round-robin"
    /// Smooth weighted round robin (nginx's).
    case weighted
    /// Fewest requests in flight for the weight.
    case leastConnections = "least-connections"
    /// Power of two random choices on requests in flight.
    case powerOfTwoChoices = "p2c"
    /// Consistent hashing of the client address, a header or a cookie.
    case hash

    /// The names as a user types them, for error messages.
    static let choices = allCases.map(\.rawValue).joined(separator: ", ")

    /// A balancer of this algorithm. `cursor` is the saved round-robin cursor (only round robin
    /// reads it); `slowStart` applies to every algorithm but round robin.
    func makeBalancer(cursor: Int, slowStart: SlowStart) -> any Balancer {
        switch self {
        case .roundRobin: RoundRobin(cursor: cursor)
        case .weighted: SmoothWeightedRoundRobin(slowStart: slowStart)
        case .leastConnections: LeastConnections(slowStart: slowStart)
        case .powerOfTwoChoices: PowerOfTwoChoices(slowStart: slowStart)
        case .hash: ConsistentHash(slowStart: slowStart)
        }
    }
}
