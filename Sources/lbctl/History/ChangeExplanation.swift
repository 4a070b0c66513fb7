import LBStore

/// Why a change happened, as `lbctl why` tells it: the cause, who and with what command, the
/// threshold in effect, and the observations behind it.
///
/// The evidence is what the daemon recorded with the change. For a status change written before
/// schema v5 it is rebuilt: a traffic cause lists the recorded failures of the request named on
/// the event, a check cause the one check its detail describes.
struct ChangeExplanation: Sendable {
    var change: RecordedChange
    /// `check`, `traffic`, `admin` or `restore`; nil when the record does not say.
    var cause: EventCause?
    /// What the backend became: a health, an admin state, or `removed`.
    var stateAfter: String?
    var evidence: [Evidence]

    /// Failures read back from the change when looking for an old traffic cause's attempts.
    static let failureLookBack = 64

    init(_ change: RecordedChange, store: Store) throws {
        self.change = change
        cause = change.cause
        switch change.action {
        case .health(_, let to): stateAfter = to.rawValue
        case .adminState(_, let to): stateAfter = to.rawValue
        case .removed: stateAfter = "removed"
        case .added(_, _, let state): stateAfter = state.rawValue
        default: stateAfter = nil
        }
        if let recorded = change.evidence {
            evidence = recorded
        } else {
            evidence = try Self.rebuiltEvidence(for: change, store: store)
        }
    }

    private static func rebuiltEvidence(for change: RecordedChange, store: Store) throws -> [Evidence] {
        let event = change.event
        switch (event.kind, change.cause) {
        case (.adminChange, _):
            return [Evidence(at: event.at, source: .admin)]
        case (.statusChange, .traffic?):
            guard let requestID = event.requestID, let backendID = event.backendID else { return [] }
            let failures = try store.backendEvents(backendID, kind: .failure, before: change.position,
                                                   limit: failureLookBack)
            return failures.filter { $0.requestID == requestID }.reversed().map {
                Evidence(at: $0.at, source: .request, requestID: $0.requestID, attempt: $0.attempt, error: $0.detail)
            }
        case (.statusChange, .check?):
            return [Evidence(at: event.at, source: .check,
                             error: change.healthAfter == .down ? change.checkErrorInDetail : nil)]
        default:
            return []
        }
    }
}
