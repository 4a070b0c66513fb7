import LBStore
import NIOHTTP1

/// RFC 9110 §7.6.1: headers that describe one connection and must not be forwarded.
enum HopByHopHeaders {
    static let names: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes the fixed hop-by-hop headers and every header the `Connection` header names.
    /// `Transfer-Encoding` is kept: NIO's encoder re-frames the body from it.
    static func strip(_ headers: inout HTTPHeaders) {
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
