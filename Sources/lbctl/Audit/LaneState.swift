/// What an audit timeline shows for a backend at one moment. When several hold at once the most
/// telling wins: no record, not registered, no balancer, then disabled, down, drained, up, unknown.
enum LaneState: String, CaseIterable, Sendable {
    case up
    case down
    case drained
    case disabled
    case unknown
    case notRegistered = "not_registered"
    /// No lbserver ran: nothing routed to the backend or checked it, so it was neither up nor down.
    case noBalancer = "no_balancer"
    /// Before the database's first record (never written, or pruned): nothing is known.
    case noRecord = "no_record"

    /// The words a report uses for it.
    var label: String {
        switch self {
        case .notRegistered: return "not registered"
        case .noBalancer: return "no balancer"
        case .noRecord: return "no record"
        default: return rawValue
        }
    }

    /// Whether a backend in this state could take a new request: registered, enabled, not down,
    /// with a balancer running (unknown health counts, as the daemon routes to it).
    var takesTraffic: Bool { self == .up || self == .unknown }
}
