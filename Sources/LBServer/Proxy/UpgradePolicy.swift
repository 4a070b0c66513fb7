import Foundation

/// Which protocol switches the proxy tunnels: those the operator allowed (`--upgrade-protocols`,
/// `websocket` by default), and never `h2c`, whose upgrade would hand a backend an HTTP/2
/// connection the proxy cannot see into. A request offering nothing allowed is forwarded as a
/// plain request without its upgrade fields (RFC 9110 §7.8 lets a server ignore `Upgrade`).
enum UpgradePolicy {
    /// The protocol that is never tunnelled, whatever the list says.
    static let neverTunnelled = "h2c"

    /// The `Upgrade` value to forward for a client's `offered` one: the offered protocols whose
    /// name (before any `/version`) is in `allowed` (lower-cased), in the client's order; nil
    /// when none is.
    static func permitted(_ offered: String, allowed: [String]) -> String? {
        guard !allowed.isEmpty else { return nil }
        let kept = offered.split(separator: ",").compactMap { element -> Substring? in
            let trimmed = element.trimmingWhitespace()
            let name = protocolName(trimmed)
            return !name.isEmpty && name != neverTunnelled && allowed.contains(name) ? trimmed : nil
        }
        return kept.isEmpty ? nil : kept.joined(separator: ", ")
    }

    /// Why an allow-list was refused.
    struct ListError: Error, CustomStringConvertible {
        let description: String
    }

    /// The allow-list an operator wrote (`websocket`, `websocket,foo`, `none` or empty for no
    /// upgrades at all), lower-cased. Refuses `h2c` and names that are not tokens.
    static func allowedList(parsing text: String) -> Result<[String], ListError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.lowercased() != "none" else { return .success([]) }
        var list: [String] = []
        for element in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let name = element.trimmingWhitespace().lowercased()
            guard !name.isEmpty, name.utf8.allSatisfy(HeadSyntax.isToken) else {
                return .failure(ListError(description: "'\(element)' is not a protocol name"))
            }
            guard name != neverTunnelled else {
                return .failure(ListError(description: "h2c upgrades are never tunnelled (the proxy could not see into the HTTP/2 connection)"))
            }
            if !list.contains(name) { list.append(name) }
        }
        return .success(list)
    }

    /// Whether a backend's `101` switches to one of the protocols the proxy forwarded.
    static func accepts(_ answered: String?, offered: String) -> Bool {
        guard let answered else { return false }
        let chosen = answered.split(separator: ",").map { protocolName($0.trimmingWhitespace()) }
        let forwarded = offered.split(separator: ",").map { protocolName($0.trimmingWhitespace()) }
        return !chosen.isEmpty && chosen.allSatisfy { forwarded.contains($0) }
    }

    /// `websocket` of `WebSocket/13`: the name, lower-cased.
    private static func protocolName(_ element: Substring) -> String {
        String(element.prefix { $0 != "/" }).lowercased()
    }
}

extension Substring {
    /// The element without the spaces and tabs around it.
    fileprivate func trimmingWhitespace() -> Substring {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return trimmed
    }
}
