/// A validated backend address: `http[s]://host[:port][/path-prefix]`, shared by `lbserver` and
/// `lbctl` so both accept and store exactly the same spelling.
///
/// The port defaults by scheme (80 for http, 443 for https), so `http://example` is usable rather
/// than dead.
public struct BackendURL: Hashable, Sendable, CustomStringConvertible {
    /// Whether the backend is spoken to over TLS (`https://`).
    public let isTLS: Bool
    public let host: String
    public let port: Int
    /// The path prefix without a trailing slash ("" for none); requests are forwarded below it.
    public let pathPrefix: String
    /// The URL as the registry stores it (canonical form of what the user typed).
    public let text: String

    /// Why a backend URL was refused; the message names the URL and the fix.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(parsing raw: String) throws(ParseError) {
        let trimmed = raw.trimmingSpaces
        guard !trimmed.isEmpty else { throw ParseError(description: "empty backend URL") }
        guard !trimmed.contains(where: { $0 == " " || $0 == "\t" || $0.isNewline }) else {
            throw ParseError(description: "backend URL '\(trimmed)' contains white space")
        }
        guard let schemeEnd = trimmed.range(of: "://") else {
            throw ParseError(description: "backend URL '\(trimmed)' has no scheme; write http://HOST:PORT")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw ParseError(description: "backend URL '\(trimmed)' uses scheme '\(scheme)'; only http and https are supported")
        }
        isTLS = scheme == "https"
        let rest = trimmed[schemeEnd.upperBound...]
        guard !rest.contains("?"), !rest.contains("#") else {
            throw ParseError(description: "backend URL '\(trimmed)' must not have a query or fragment")
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        while path.hasSuffix("/") { path.removeLast() }
        guard !authority.contains("@") else {
            throw ParseError(description: "backend URL '\(trimmed)' must not carry credentials")
        }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            // An IPv6 literal: [::1]:8080
            guard let close = authority.firstIndex(of: "]") else {
                throw ParseError(description: "backend URL '\(trimmed)' has an unclosed IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw ParseError(description: "backend URL '\(trimmed)' has junk after the IPv6 address")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty,
              host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":") })
        else {
            throw ParseError(description: "backend URL '\(trimmed)' has no valid host")
        }
        var port = isTLS ? 443 : 80
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw ParseError(description: "backend URL '\(trimmed)' has an invalid port '\(portText)' (1-65535)")
            }
            port = value
        }
        self.host = host.lowercased()
        self.port = port
        self.pathPrefix = path
        let hostPart = self.host.contains(":") ? "[\(self.host)]" : self.host
        self.text = "\(isTLS ? "https" : "http")://\(hostPart):\(port)\(path)"
    }

    public var description: String { text }

    /// The `Host` header value for requests to this backend.
    public var hostHeader: String {
        let hostPart = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? hostPart : "\(hostPart):\(port)"
    }

    /// Why a list that names `url` twice is refused: the same words for a flag's list and a file's.
    public static func listedTwice(_ url: BackendURL) -> String { "backend \(url) is listed twice" }

    /// Parses a comma-separated list as `--backends` takes it: items trimmed, empty items and
    /// duplicates refused with a message that names them.
    public static func parseList(_ list: String) throws(ParseError) -> [BackendURL] {
        var result: [BackendURL] = []
        for (index, item) in list.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            if item.trimmingSpaces.isEmpty {
                throw ParseError(description: "backend list has an empty item at position \(index + 1)")
            }
            let url = try BackendURL(parsing: String(item))
            if result.contains(url) { throw ParseError(description: listedTwice(url)) }
            result.append(url)
        }
        return result
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    public var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
