import LBStore

/// Everything an audit knows about a backend at one instant: whether it is in the registry, its
/// health and the operator's state. Replaying change events moves it forward.
struct BackendCondition: Equatable, Sendable {
    var isRegistered: Bool
    var health: Health
    var adminState: AdminState

    /// The colour of the lane.
    var laneState: LaneState {
        guard isRegistered else { return .notRegistered }
        if adminState == .disabled { return .disabled }
        if health == .down { return .down }
        if adminState == .drained { return .drained }
        return health == .up ? .up : .unknown
    }

    /// Counts as downtime: registered and down, whatever the operator said.
    var isDown: Bool { isRegistered && health == .down }

    var isDrained: Bool { isRegistered && adminState == .drained }

    /// The condition after `event` (a status or admin change of this backend).
    func applying(_ event: Event) -> BackendCondition {
        var next = self
        switch event.kind {
        case .statusChange:
            if let health = ChangeDetail.healthTransition(event.detail).to { next.health = health }
        case .adminChange:
            switch ChangeDetail.adminChange(event.detail) {
            case .added:
                // `Store.addBackend` brings a backend back enabled, health unknown.
                next = BackendCondition(isRegistered: true, health: .unknown, adminState: .enabled)
            case .removed: next.isRegistered = false
            case .state(_, let to): next.adminState = to
            case .weight, .other: break
            }
        default: break
        }
        return next
    }
}
