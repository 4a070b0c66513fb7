import LBText
/// One key and its value in a log line; a number is written bare in JSON.
struct LogField: Sendable {
    var key: String
    var value: String
    var isNumber = false
    /// Quoted in key=value form even when it is one token (the message, so it reads as text).
    var alwaysQuoted = false

    init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }

    static func number(_ key: String, _ value: String) -> LogField {
        var field = LogField(key, value)
        field.isNumber = true
        return field
    }

    static func quoted(_ key: String, _ value: String) -> LogField {
        var field = LogField(key, value)
        field.alwaysQuoted = true
        return field
    }
}

/// How `lbserver` writes its log and access-log lines (`--log-format`).
enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=… level=… msg="…" key=value …`, one line per event; values quoted when they need it.
    case keyValue = "keyvalue"
    /// One JSON object per line.
    case json

    static var choices: String { allCases.map(\.rawValue).joined(separator: " or ") }

    /// One line (with its newline) from `fields` in order.
    func line(_ fields: [LogField]) -> String {
        var line = ""
        switch self {
        case .keyValue:
            for (index, field) in fields.enumerated() {
                if index > 0 { line += " " }
                line += field.key
                line += "="
                line += Self.keyValueQuoted(field.value, always: field.alwaysQuoted)
            }
        case .json:
            line = "{"
            for (index, field) in fields.enumerated() {
                if index > 0 { line += "," }
                Self.appendJSONString(field.key, to: &line)
                line += ":"
                if field.isNumber {
                    line += field.value
                } else {
                    Self.appendJSONString(field.value, to: &line)
                }
            }
            line += "}"
        }
        line += "\n"
        return line
    }

    /// The value as is when it is one plain token, else in double quotes with `"` and `\`
    /// escaped and control characters written as escapes, so a line never breaks in two.
    static func keyValueQuoted(_ value: String, always: Bool = false) -> String {
        let needsQuotes = always || value.isEmpty || value.unicodeScalars.contains { scalar in
            scalar == " " || scalar == "\"" || scalar == "=" || scalar == "\\" || scalar.value < 0x20 || scalar.value == 0x7F
        }
        guard needsQuotes else { return value }
        var quoted = "\""
        JSONString.appendEscaped(value, to: &quoted)
        quoted += "\""
        return quoted
    }

    static func appendJSONString(_ value: String, to output: inout String) {
        JSONString.append(value, to: &output)
    }
}
