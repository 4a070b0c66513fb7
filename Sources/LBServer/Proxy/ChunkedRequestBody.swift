import NIOCore

/// The chunked framing the proxy writes for a request body the client sent chunked: the body is
/// re-chunked from the payload the proxy parsed (one chunk per part it received, no extensions),
/// closed by a last chunk the proxy writes only once the client's whole trailer section was read
/// and found well-formed. None of the client's framing bytes reach a backend, so a chunk-size
/// line or a trailer section a simpler parser would read differently cannot smuggle a request.
enum ChunkedRequestBody {
    /// One chunk holding `payload` (which must not be empty: a chunk of size 0 ends the body).
    static func chunk(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = payload.readableBytes
        precondition(size > 0, "an empty chunk would end the body")
        var buffer = allocator.buffer(capacity: size + 20)
        buffer.writeString(String(size, radix: 16))
        buffer.writeStaticString("\r\n")
        buffer.writeImmutableBuffer(payload)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// The last chunk and the trailer section: `0`, the forwarded trailer lines, the blank line.
    static func lastChunk(trailers: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: trailers.count + 5)
        buffer.writeStaticString("0\r\n")
        buffer.writeBytes(trailers)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// The trailer fields a backend gets, from the client's trailer section (as `BodyScanner`
    /// kept and validated it): each well-formed field as `name: value` CRLF, less those that must
    /// not travel in trailers (RFC 9110 §6.5.1: framing, routing, connection management,
    /// authentication, request modifiers, content metadata) and the fields the proxy sets itself.
    static func forwardedTrailers(_ section: [UInt8]) -> [UInt8] {
        guard !section.isEmpty else { return [] }
        var forwarded: [UInt8] = []
        // Validated when it was read; a failure here would mean nothing is forwarded.
        try? BodyScanner.trailerFields(section) { raw, field in
            let name = UnsafeRawBufferPointer(rebasing: raw[Int(field.nameStart)..<Int(field.nameEnd)])
            guard !prohibitedNames.contains(String(decoding: name, as: UTF8.self).lowercased()) else { return }
            forwarded.append(contentsOf: name)
            forwarded.append(contentsOf: ": ".utf8)
            forwarded.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)]))
            forwarded.append(contentsOf: [HeadSyntax.cr, HeadSyntax.lf])
        }
        return forwarded
    }

    /// Field names dropped from a request's trailers (lower-cased).
    static let prohibitedNames: Set<String> = [
        "content-length", "transfer-encoding", "trailer", "te", "host", "connection", "keep-alive", "upgrade",
        "proxy-connection", "proxy-authenticate", "proxy-authorization", "authorization", "cookie", "expect",
        "max-forwards", "cache-control", "range", "if-match", "if-none-match", "if-modified-since",
        "if-unmodified-since", "if-range", "content-type", "content-encoding", "content-range", "x-forwarded-for",
        "x-forwarded-host", "x-forwarded-proto", "x-request-id",
    ]
}
