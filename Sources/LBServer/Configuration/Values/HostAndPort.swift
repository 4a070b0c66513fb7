/// A listening address as an operator writes it: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` for every
/// interface; the one parser of `--listen`, `--admin`, their config keys, and `lbserver respond`.
struct HostAndPort: ArgumentSettingValue, CustomStringConvertible {
    /// A name or an address, without IPv6 brackets.
    var host: String
    var port: Int

    static let placeholder = "host:port"
    static let expected = "HOST:PORT"
    /// What an empty host (`:8080`) means.
    static let everyInterface = "0.0.0.0"

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `HOST:PORT`; an empty host is every interface.
    init(settingText text: String) throws(SettingProblem) {
        try self.init(settingText: text, requiringHost: false)
    }

    /// Reads `HOST:PORT`; with `requiringHost` an empty host is refused rather than taken as every
    /// interface (the admin listener is never opened to every interface by omission).
    init(settingText text: String, requiringHost: Bool) throws(SettingProblem) {
        let expected = requiringHost ? "\(Self.expected) with a host" : Self.expected
        guard let colon = text.lastIndex(of: ":") else { throw SettingProblem(reason: .wants(expected), given: text) }
        let portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw SettingProblem(reason: .wants(expected), given: text)
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw SettingProblem(reason: .wants("\(Self.expected) with a port of 0-65535"), given: text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") || host.hasSuffix("]") {
            guard host.hasPrefix("["), host.hasSuffix("]"), host.count > 2 else {
                throw SettingProblem(reason: .wants("\(Self.expected) with an IPv6 address in brackets"), given: text)
            }
            host = String(host.dropFirst().dropLast())
        }
        if host.isEmpty {
            guard !requiringHost else { throw SettingProblem(reason: .wants(expected), given: text) }
            host = Self.everyInterface
        }
        self.init(host: host, port: port)
    }

    /// `host:port`, with an IPv6 address in brackets.
    var settingText: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    var description: String { settingText }
}
