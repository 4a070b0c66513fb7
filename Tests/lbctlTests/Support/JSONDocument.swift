import Foundation
import Testing

/// Parses `lbctl --json` output with Foundation's own parser, so the tests check real JSON.
enum JSONDocument {
    static func array(_ text: String) throws -> [[String: Any]] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return try #require(value as? [[String: Any]], "expected a JSON array of objects: \(text.prefix(200))")
    }

    static func object(_ text: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(value as? [String: Any], "expected a JSON object: \(text.prefix(200))")
    }
}
