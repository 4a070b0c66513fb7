/// JSON string literals (RFC 8259 §7), written the one way both programs write them: the daemon's
/// JSON log lines and `lbctl`'s JSON output. Quote, backslash and the C0 controls are escaped, and
/// so is DEL (allowed raw by the RFC, but a terminal or a log viewer may act on it); everything
/// else, non-ASCII included, is copied as it is.
public enum JSONString {
    /// Appends `value` as a JSON string literal, quotes included.
    public static func append(_ value: String, to output: inout String) {
        output += "\""
        appendEscaped(value, to: &output)
        output += "\""
    }

    /// Appends `value` escaped as inside a JSON string literal, without the quotes.
    public static func appendEscaped(_ value: String, to output: inout String) {
        // Most values need no escaping: copy them whole.
        if value.isPlainPrintableASCII {
            output += value
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case let control where control.value < 0x20 || control.value == 0x7F:
                let hex = String(control.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                output.unicodeScalars.append(scalar)
            }
        }
    }
}

extension String {
    /// True when every byte is printable ASCII other than `"` and `\`: text that tables, JSON and
    /// CSV can copy as it is. Checked over the contiguous UTF-8 storage when there is one.
    public var isPlainPrintableASCII: Bool {
        func check<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
            for byte in bytes where byte < 0x20 || byte >= 0x7F || byte == 0x22 || byte == 0x5C { return false }
            return true
        }
        return utf8.withContiguousStorageIfAvailable { check($0) } ?? check(utf8)
    }
}
