/// One line of the control socket's protocol: a verb and `key=value` fields, values percent-free
/// text without spaces, except the last field `reason`, which runs to the end of the line.
///
/// Requests: `handover pid=N version=V` (the reply `ok` carries the listening sockets),
/// `release` (the successor serves: stop accepting and drain), `reload` (read the configuration
/// again; the reply is `ok` or `refused`, with the reload's `reason`).
struct ControlMessage: Equatable, Sendable {
    var verb: String
    var fields: [(key: String, value: String)]

    init(_ verb: String, _ fields: [(String, String)] = []) {
        self.verb = verb
        self.fields = fields.map { (key: $0.0, value: $0.1) }
    }

    subscript(key: String) -> String? { fields.first { $0.key == key }?.value }

    /// The line, without its newline. A value's spaces survive only in `reason`, written last.
    var line: String {
        var words = [verb]
        var reason: String?
        for field in fields {
            if field.key == "reason" {
                reason = field.value
            } else {
                words.append("\(field.key)=\(field.value.replacingSpaces)")
            }
        }
        if let reason { words.append("reason=\(reason)") }
        return words.joined(separator: " ")
    }

    /// Parses a line; the first word is the verb.
    init(parsing line: String) {
        var rest = Substring(line)
        verb = String(rest.prefix { $0 != " " })
        rest = rest.dropFirst(verb.count).drop { $0 == " " }
        var fields: [(key: String, value: String)] = []
        while !rest.isEmpty {
            if rest.hasPrefix("reason=") {
                fields.append(("reason", String(rest.dropFirst("reason=".count))))
                break
            }
            let word = rest.prefix { $0 != " " }
            rest = rest.dropFirst(word.count).drop { $0 == " " }
            let parts = word.split(separator: "=", maxSplits: 1)
            fields.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : ""))
        }
        self.fields = fields
    }

    static func == (lhs: ControlMessage, rhs: ControlMessage) -> Bool {
        lhs.verb == rhs.verb && lhs.fields.elementsEqual(rhs.fields) { $0.key == $1.key && $0.value == $1.value }
    }
}

private extension String {
    var replacingSpaces: String { split(separator: " ", omittingEmptySubsequences: false).joined(separator: "_") }
}
