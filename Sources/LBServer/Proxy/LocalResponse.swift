import NIOCore
import NIOHTTP1

/// The balancer's own short plain-text answers (`503`, `502`, `400`, `408`...), written as bytes.
enum LocalResponse {
    /// A complete response: status line, `Content-Type`, `Content-Length`, the request id if
    /// there is one, `Connection: close` when the connection ends after it, and the body
    /// `"<code> <reason>: <message>\n"` unless the request was HEAD.
    static func bytes(status: Int, message: String?, minorVersion: Int = 1, requestID: String?, close: Bool,
                      includeBody: Bool = true, allocator: ByteBufferAllocator) -> (bytes: ByteBuffer, bodyBytes: Int) {
        let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
        let body = message.map { "\(status) \(reason): \($0)\n" } ?? "\(status) \(reason)\n"
        var buffer = allocator.buffer(capacity: 192 + body.utf8.count)
        buffer.writeString(minorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString("\(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n")
        if let requestID { buffer.writeString("X-Request-Id: \(requestID)\r\n") }
        if close { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeStaticString("\r\n")
        guard includeBody else { return (buffer, 0) }
        buffer.writeString(body)
        return (buffer, body.utf8.count)
    }
}
