/// What an audit timeline shows for a backend at one moment. When several hold at once the most
/// telling wins: not registered, then disabled, down, drained, up, unknown.
enum LaneState: String, CaseIterable, Sendable {
    case up
    case down
    case drained
    case disabled
    case unknown
    case notRegistered = "not_registered"

    /// The words a report uses for it.
    var label: String {
        switch self {
        case .notRegistered: return "not registered"
        default: return rawValue
        }
    }
}
