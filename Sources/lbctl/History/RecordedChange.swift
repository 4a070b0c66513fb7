import LBStore

/// What a `status_change` or `admin_change` event says it changed, who did it and why: read from
/// the event's structured data (`EventData`), else, for an event written before schema v5, from
/// its detail ("add weight=2 origin=config by=alice", "admin_state enabled->drained by=bob",
/// "weight 1->5 by=bob", "remove by=carol", "up->down cause=check failed 3 time(s), fall=3: refused").
struct RecordedChange: Sendable {
    /// The change itself.
    enum Action: Equatable, Sendable {
        /// An add (or re-add); the configuration may declare a backend drained or disabled.
        case added(weight: Int?, origin: BackendOrigin?, adminState: AdminState)
        case removed
        case adminState(from: AdminState?, to: AdminState)
        case weight(from: Int?, to: Int)
        case origin(from: BackendOrigin?, to: BackendOrigin)
        /// A per-backend setting (backup, a limit), its values as `BackendSetting.text` writes them.
        case setting(BackendSetting, from: String?, to: String)
        case health(from: Health?, to: Health)
        /// Not a change `lbctl` can follow (an unreadable or unknown record).
        case other
    }

    let event: Event
    let action: Action
    /// The OS user (or `lbserver`) behind an admin change.
    let actor: String?
    /// The command line that made an admin change, when `lbctl` made it.
    let command: String?
    /// Why a status changed: `check`, `traffic`, `admin` or `restore`; nil when the record does not say.
    let cause: EventCause?
    /// The rise or fall count in effect for a check-caused status change.
    let threshold: Int?
    /// The observations recorded with the change; nil for an event written before schema v5.
    let evidence: [Evidence]?
    /// For a restore: how old the restored state was.
    let stateAgeMilliseconds: Int64?

    /// The admin-change actions, as `Store.adminChanges(… action:)` finds them.
    enum ActionName {
        static let add = "add"
        static let remove = "remove"
        static let adminState = "admin_state"
        static let weight = "weight"
        static let origin = "origin"
    }

    init(_ event: Event) {
        self.event = event
        let data = event.data
        let detail = event.detail ?? ""
        switch event.kind {
        case .statusChange:
            action = Self.healthAction(data: data, detail: detail)
            actor = data?.actor
            command = data?.command
            cause = data?.cause ?? Self.causeWord(in: detail)
            threshold = data?.threshold ?? Self.threshold(in: detail)
        case .adminChange:
            action = Self.adminAction(data: data, detail: detail)
            actor = data?.actor ?? Self.value(of: "by", in: detail)
            command = data?.command
            cause = .admin
            threshold = nil
        default:
            action = .other
            actor = nil
            command = nil
            cause = nil
            threshold = nil
        }
        evidence = data?.evidence
        stateAgeMilliseconds = data?.stateAgeMs
    }

    /// Where the event stands in the log.
    var position: EventPosition { EventPosition(of: event) }

    /// The health a status change led to, if it is one.
    var healthAfter: Health? {
        if case .health(_, let to) = action { return to }
        return nil
    }

    /// The admin state an admin change led to (an add sets one too), if it set one.
    var adminStateAfter: AdminState? {
        switch action {
        case .adminState(_, let to): return to
        case .added(_, _, let state): return state
        default: return nil
        }
    }

    // MARK: Reading structured data, else the detail

    private static func healthAction(data: EventData?, detail: String) -> Action {
        if let to = data?.to.flatMap(Health.init(rawValue:)) {
            return .health(from: data?.from.flatMap(Health.init(rawValue:)), to: to)
        }
        let transition = ChangeDetail.healthTransition(detail)
        guard let to = transition.to else { return .other }
        return .health(from: transition.from, to: to)
    }

    private static func adminAction(data: EventData?, detail: String) -> Action {
        let word = data?.action ?? String(detail.prefix(while: { !$0.isWhitespace }))
        let arrow = data == nil ? arrowValues(in: detail) : (data?.from, data?.to)
        switch word {
        case "add":
            return .added(weight: data?.weight ?? value(of: "weight", in: detail).flatMap { Int($0) },
                          origin: (data?.origin ?? value(of: "origin", in: detail)).flatMap(BackendOrigin.init(rawValue:)),
                          adminState: data?.to.flatMap(AdminState.init(rawValue:)) ?? .enabled)
        case "remove":
            return .removed
        case "admin_state":
            guard let to = arrow.1.flatMap(AdminState.init(rawValue:)) else { return .other }
            return .adminState(from: arrow.0.flatMap(AdminState.init(rawValue:)), to: to)
        case "weight":
            guard let to = arrow.1.flatMap({ Int($0) }) else { return .other }
            return .weight(from: arrow.0.flatMap { Int($0) }, to: to)
        case "origin":
            guard let to = arrow.1.flatMap(BackendOrigin.init(rawValue:)) else { return .other }
            return .origin(from: arrow.0.flatMap(BackendOrigin.init(rawValue:)), to: to)
        default:
            guard let setting = BackendSetting(rawValue: word), let to = arrow.1 else { return .other }
            return .setting(setting, from: arrow.0, to: to)
        }
    }

    /// The value of `key=VALUE` among the words of a detail.
    static func value(of key: String, in detail: String) -> String? {
        for word in detail.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ";" }) {
            if word.hasPrefix(key + "=") { return String(word.dropFirst(key.count + 1)) }
        }
        return nil
    }

    /// `A` and `B` of the second word `A->B` of an admin change ("weight 1->5 by=bob").
    private static func arrowValues(in detail: String) -> (String?, String?) {
        let words = detail.split(separator: " ")
        guard words.count >= 2, let arrow = words[1].range(of: "->") else { return (nil, nil) }
        return (String(words[1][..<arrow.lowerBound]), String(words[1][arrow.upperBound...]))
    }

    /// The cause named by `cause=WORD…` in a status change's detail. Details written before
    /// the causes had names said `cause=health` for the checker.
    private static func causeWord(in detail: String) -> EventCause? {
        guard let range = detail.range(of: "cause=") else { return nil }
        let word = detail[range.upperBound...].prefix(while: { $0.isLetter })
        switch word {
        case "check", "health": return .check
        case "traffic": return .traffic
        case "admin": return .admin
        case "restore": return .restore
        case "outlier": return .outlier
        default: return nil
        }
    }

    /// The count of `fall=N` or `rise=N` in a status change's detail.
    private static func threshold(in detail: String) -> Int? {
        for key in ["fall", "rise"] {
            if let text = value(of: key, in: detail), let count = Int(text.prefix(while: \.isNumber)) { return count }
        }
        return nil
    }

    /// The checker's error at the end of an old check-caused detail ("…, fall=3: connection refused").
    var checkErrorInDetail: String? {
        guard let detail = event.detail, let range = detail.range(of: ": ") else { return nil }
        let error = detail[range.upperBound...].trimmingSpaces
        return error.isEmpty ? nil : error
    }
}
