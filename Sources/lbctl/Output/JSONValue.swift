import LBText
/// A JSON document built in code, serialised with object keys in the order given, so the shapes
/// documented in the README come out exactly as written (and `null` is written, never omitted).
enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// JSON text already serialised elsewhere (an event's stored `data`), written as it is.
    case raw(String)

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.compact == rhs.compact }

    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    static func optional(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }
    static func optional(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }

    /// The value on one line, no spaces.
    var compact: String {
        var output = ""
        write(to: &output, indent: nil, level: 0)
        return output
    }

    /// The value indented by two spaces per level.
    var pretty: String {
        var output = ""
        write(to: &output, indent: "  ", level: 0)
        return output
    }

    /// An array as one element per line: greppable, and diff-friendly, for long record lists.
    static func lines(_ elements: [JSONValue]) -> String {
        guard !elements.isEmpty else { return "[]\n" }
        var output = "[\n"
        for (index, element) in elements.enumerated() {
            output += "  "
            element.write(to: &output, indent: nil, level: 0)
            output += index + 1 < elements.count ? ",\n" : "\n"
        }
        output += "]\n"
        return output
    }

    private func write(to output: inout String, indent: String?, level: Int) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .integer(let value): output += String(value)
        case .number(let value):
            // JSON has no NaN or infinity.
            output += value.isFinite ? String(value) : "null"
        case .string(let value): JSONValue.writeString(value, to: &output)
        case .raw(let text): output += text
        case .array(let elements):
            writeContainer(elements.map { (nil as String?, $0) }, open: "[", close: "]", to: &output,
                           indent: indent, level: level)
        case .object(let members):
            writeContainer(members.map { (Optional($0.0), $0.1) }, open: "{", close: "}", to: &output,
                           indent: indent, level: level)
        }
    }

    private func writeContainer(_ items: [(String?, JSONValue)], open: String, close: String,
                                to output: inout String, indent: String?, level: Int) {
        output += open
        guard !items.isEmpty else {
            output += close
            return
        }
        for (index, (key, value)) in items.enumerated() {
            if index > 0 { output += "," }
            if let indent { output += "\n" + String(repeating: indent, count: level + 1) }
            if let key {
                JSONValue.writeString(key, to: &output)
                output += indent == nil ? ":" : ": "
            }
            value.write(to: &output, indent: indent, level: level + 1)
        }
        if let indent { output += "\n" + String(repeating: indent, count: level) }
        output += close
    }

    /// Appends `value` as a JSON string literal, quotes included (the shared `JSONString` rules).
    static func writeString(_ value: String, to output: inout String) {
        JSONString.append(value, to: &output)
    }
}
