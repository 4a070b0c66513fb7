import LBStore
import NIOHTTP1

/// RFC 9110 §7.6.1: headers that describe one connection and must not be forwarded.
enum HopByHopHeaders {
    /// Whether `name` is one of `names` (ASCII, case-insensitive), without lowercasing a copy.
    static func isHopByHop(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard utf8.count >= 2, utf8.count <= 19 else { return false }
        return names.contains { candidate in
            candidate.utf8.count == utf8.count
                && zip(candidate.utf8, utf8).allSatisfy { expected, actual in expected == (actual | 0x20) }
        }
    }

    static let names: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes the fixed hop-by-hop headers and every header the `Connection` header names.
    /// `Transfer-Encoding` is kept: NIO's encoder re-frames the body from it.
    static func strip(_ headers: inout HTTPHeaders) {
        // Most requests carry none of these: one pass over the names, without allocating,
        // settles that before any copy of the headers is made.
        guard headers.contains(where: { isHopByHop($0.name) }) else { return }
        var named: [String] = []
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                let name = token.trimmingSpaces.lowercased()
                if !name.isEmpty, name != "close", name != "keep-alive" { named.append(name) }
            }
        }
        for name in names where headers.contains(name: name) { headers.remove(name: name) }
        // A client must not make us drop the framing or the forwarding headers.
        for name in named where name != "transfer-encoding" && name != "content-length" && name != "host" {
            headers.remove(name: name)
        }
    }
}
