#if LB_FUZZ || DEBUG
@testable import LBServer
/// Reads requests the way a deliberately simple backend does, to show what such a backend makes
/// of the proxy's output: lines until an empty line; a body framed only by a line exactly
/// `Transfer-Encoding: chunked` (name in any case), else by the first `Content-Length`, else none;
/// chunk sizes are the hex prefix of their line, and after the last chunk it takes one CRLF if
/// one is there and reads no trailers.
///
/// Canonical HTTP/1.1 (one `Content-Length` or one `chunked`, no trailers) reads the same here as
/// under RFC 9112; anything a proxy lets through beyond that can make it see other requests.
/// Test and fuzzing code only (built with `DEBUG` or `LB_FUZZ`).
struct NaiveRequestParser {
    /// One request as the simple backend understood it.
    struct Request: Equatable, Sendable, CustomStringConvertible {
        var method: String
        var target: String
        var version: String
        /// Header lines split at their first colon, the value trimmed of spaces and tabs.
        var headers: [Field]
        var body: [UInt8]
        /// The request's bytes as received, head and body.
        var raw: [UInt8]
        /// Its chunked body's last chunk was followed by a trailer section, which this parser
        /// does not read: what follows is misread from here on, by design.
        var trailersFollow = false

        struct Field: Equatable, Sendable {
            var name: String
            var value: String
            /// The whole line as received.
            var line: String
        }

        /// The values of the header lines named `name` (any case).
        func values(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }

        var description: String { "\(method) \(target) body-bytes=\(body.count)" }
    }

    private var buffer: [UInt8] = []

    /// Bytes received and not yet part of a complete request.
    var bufferedBytes: Int { buffer.count }

    mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request, its bytes removed from the buffer; nil until one is complete.
    mutating func next() -> Request? {
        var index = 0
        // Empty lines before a request line are skipped, as most simple servers do.
        var requestLine: [UInt8] = []
        repeat {
            guard let line = readLine(&index) else { return nil }
            requestLine = line
        } while requestLine.isEmpty
        var headers: [Request.Field] = []
        while true {
            guard let line = readLine(&index) else { return nil }
            if line.isEmpty { break }
            headers.append(Self.field(line))
        }
        let parts = requestLine.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        let text = { (index: Int) in parts.count > index ? String(decoding: parts[index], as: UTF8.self) : "" }
        var body: [UInt8] = []
        var trailersFollow = false
        if headers.contains(where: { $0.isExactlyChunked }) {
            while true {
                guard let line = readLine(&index) else { return nil }
                let size = Self.hexPrefix(line)
                if size == 0 {
                    // The last chunk: one CRLF if it is there, and no trailer section.
                    guard buffer.count - index >= 2 else { return nil }
                    if buffer[index] == 13 && buffer[index + 1] == 10 { index += 2 } else { trailersFollow = true }
                    break
                }
                guard buffer.count - index >= size + 2 else { return nil }
                body += buffer[index..<index + size]
                index += size + 2
            }
        } else if let length = headers.first(where: { $0.name.lowercased() == "content-length" }) {
            let size = Self.decimalPrefix(length.value)
            guard buffer.count - index >= size else { return nil }
            body = Array(buffer[index..<index + size])
            index += size
        }
        let raw = Array(buffer[..<index])
        buffer.removeFirst(index)
        return Request(method: text(0), target: text(1), version: text(2), headers: headers, body: body, raw: raw,
                       trailersFollow: trailersFollow)
    }

    /// The line starting at `index` without its LF (and a CR before it); nil if it is incomplete.
    private func readLine(_ index: inout Int) -> [UInt8]? {
        guard let end = buffer[index...].firstIndex(of: 10) else { return nil }
        var line = Array(buffer[index..<end])
        if line.last == 13 { line.removeLast() }
        index = end + 1
        return line
    }

    private static func field(_ line: [UInt8]) -> Request.Field {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            let text = String(decoding: line, as: UTF8.self)
            return Request.Field(name: text, value: "", line: text)
        }
        let value = line[(colon + 1)...].drop { $0 == 32 || $0 == 9 }
        let trimmed = value.reversed().drop { $0 == 32 || $0 == 9 }.reversed()
        return Request.Field(name: String(decoding: line[..<colon], as: UTF8.self),
                             value: String(decoding: Array(trimmed), as: UTF8.self),
                             line: String(decoding: line, as: UTF8.self))
    }

    /// The value of the line's leading hex digits; a size too large to hold is never satisfied.
    private static func hexPrefix(_ line: [UInt8]) -> Int {
        var value = 0
        for byte in line {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte) - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte) - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte) - 55
            default: return value
            }
            guard value < 1 << 40 else { return Int.max / 2 }
            value = value * 16 + digit
        }
        return value
    }

    private static func decimalPrefix(_ text: String) -> Int {
        var value = 0
        for byte in text.utf8 {
            guard byte >= 48 && byte <= 57 else { break }
            guard value < 1 << 40 else { return Int.max / 2 }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
}

extension NaiveRequestParser.Request.Field {
    /// Whether the line was exactly `Transfer-Encoding: chunked` (the name in any case).
    var isExactlyChunked: Bool {
        line.utf8.count == 26 && line.prefix(17).lowercased() == "transfer-encoding" && line.hasSuffix(": chunked")
    }
}
#endif
