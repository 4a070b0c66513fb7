import LBStore

/// Reads what a `status_change` or `admin_change` event changed from its detail text.
///
/// Admin changes are written by `Store` ("admin_state enabled->drained by=alice", "add weight=1
/// origin=runtime by=alice", "remove by=alice", "weight 1->5 by=alice"). A status change is read
/// as "FROM->TO ..." ("up->down after 3 failures"), else by the first health word it holds
/// ("down: connection refused").
enum ChangeDetail {
    /// What an `admin_change` did.
    enum AdminChange: Equatable, Sendable {
        case added
        case removed
        case state(from: AdminState?, to: AdminState)
        case weight
        case other
    }

    /// The health a status change moved from (when it says) and to.
    static func healthTransition(_ detail: String?) -> (from: Health?, to: Health?) {
        guard let text = detail?.lowercased() else { return (nil, nil) }
        if let (before, after) = arrowWords(text) {
            return (Health(rawValue: before), Health(rawValue: after))
        }
        let to = text.split(whereSeparator: { !$0.isLetter }).lazy
            .compactMap { Health(rawValue: String($0)) }.first { $0 != .unknown }
        return (nil, to)
    }

    static func adminChange(_ detail: String?) -> AdminChange {
        guard let text = detail?.lowercased() else { return .other }
        let first = text.prefix(while: { !$0.isWhitespace })
        switch first {
        case "add": return .added
        case "remove": return .removed
        case "weight": return .weight
        case "admin_state":
            guard let (before, after) = arrowWords(text), let to = AdminState(rawValue: after) else { return .other }
            return .state(from: AdminState(rawValue: before), to: to)
        default: return .other
        }
    }

    /// The words either side of the first arrow (`->` or `→`), spaces around it allowed.
    private static func arrowWords(_ text: String) -> (String, String)? {
        guard let arrow = text.range(of: "->") ?? text.range(of: "→") else { return nil }
        let before = text[..<arrow.lowerBound].reversed().drop(while: \.isWhitespace).prefix(while: isWordCharacter)
        let after = text[arrow.upperBound...].drop(while: \.isWhitespace).prefix(while: isWordCharacter)
        return (String(before.reversed()), String(after))
    }

    private static func isWordCharacter(_ character: Character) -> Bool { character.isLetter || character == "_" }
}
