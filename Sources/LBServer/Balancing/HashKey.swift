/// What the `hash` algorithm hashes (`--hash-key`, config `hash_key:`): the client's address
/// (the default), a request header, or a cookie.
enum HashKey: Sendable, Equatable, CustomStringConvertible {
    case clientAddress
    /// A header, by name (matched without regard to case).
    case header(String)
    /// A cookie of the `Cookie` header, by name (matched exactly).
    case cookie(String)

    /// The forms a user may write, for error messages.
    static let forms = "client-address, header:NAME or cookie:NAME"

    /// Reads `client-address`, `header:NAME` or `cookie:NAME`; nil for anything else, including
    /// a name that is not an HTTP token.
    init?(parsing text: String) {
        if text == "client-address" {
            self = .clientAddress
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[text.index(after: colon)...])
        guard !name.isEmpty, name.utf8.allSatisfy(HeadSyntax.isToken) else { return nil }
        switch text[..<colon] {
        case "header": self = .header(name)
        case "cookie": self = .cookie(name)
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .clientAddress: "client-address"
        case .header(let name): "header:\(name)"
        case .cookie(let name): "cookie:\(name)"
        }
    }

    /// The key of a request. A request without the header or cookie (or with an empty one) is
    /// keyed by its client address instead, so it still sticks to one backend.
    func key(for head: RequestHead, clientAddress: String) -> BalancingKey {
        switch self {
        case .clientAddress:
            break
        case .header(let name):
            if let value = head.value(named: name), !value.isEmpty { return BalancingKey(bytes: value.utf8) }
        case .cookie(let name):
            if let value = Self.cookie(named: name, in: head.values(named: "cookie")), !value.isEmpty {
                return BalancingKey(bytes: value.utf8)
            }
        }
        return BalancingKey(bytes: clientAddress.utf8)
    }

    /// The value of cookie `name` in the `Cookie` header values (RFC 6265 §5.4: `a=1; b=2`).
    static func cookie(named name: String, in cookieLines: [String]) -> Substring? {
        for line in cookieLines {
            for pair in line.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                return trimmed[trimmed.index(after: equals)...]
            }
        }
        return nil
    }
}
