import Foundation

/// Comma-separated values as RFC 4180 writes them: fields with a comma, quote or line break are
/// quoted, quotes doubled; a missing value is an empty field.
enum CSV {
    /// One record, ending in CRLF-free `\n` (what spreadsheet tools and `cut` both accept).
    static func line(_ fields: [String?]) -> String {
        fields.map { escape($0 ?? "") }.joined(separator: ",") + "\n"
    }

    static func escape(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D })
        else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
