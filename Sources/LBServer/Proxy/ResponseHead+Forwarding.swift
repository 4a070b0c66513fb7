import NIOCore

extension ResponseHead {
    /// How the response's head is rewritten for the client.
    struct ForwardingOptions {
        /// The client's HTTP minor version, used on the status line.
        var clientMinorVersion: Int
        /// Whether the client's connection stays open after this response.
        var keepAlive: Bool
        /// The body goes to the client without its chunk framing (an HTTP/1.0 client), so
        /// `Transfer-Encoding` is left out too.
        var removeChunking: Bool
        var requestID: String
    }

    /// Writes the head the client gets: the backend's status and field lines copied byte for
    /// byte, less the hop-by-hop ones, with our own `Connection` and the request id. A 1xx, 204 or
    /// 304 answer has no body, so its `Content-Length` and `Transfer-Encoding` are left out
    /// (RFC 9110 §8.6, RFC 9112 §6.1) and an interim answer gets no `Connection` of ours.
    func writeForwarded(into buffer: inout ByteBuffer, options: ForwardingOptions) {
        let bound = bytes.readableBytes + options.requestID.utf8.count + (upgrade?.utf8.count ?? 0) + 96
        let bodiless = status < 200 || status == 204 || status == 304
        bytes.withUnsafeReadableBytes { raw in
            buffer.writeHead(bound: bound) { writer in
                writer.append(options.clientMinorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
                writer.append(raw, statusTextStart, statusTextEnd)
                writer.append("\r\n")
                for field in fields where keeps(field, in: raw, removeFraming: bodiless, removeChunking: options.removeChunking) {
                    writer.append(raw, field.lineStart, field.lineEnd)
                    writer.append("\r\n")
                }
                if status == 101 {
                    writer.append("Connection: upgrade\r\nUpgrade: ")
                    writer.append(upgrade ?? "")
                    writer.append("\r\n")
                } else if status < 200 {
                    // An interim answer: the final one says what becomes of the connection.
                } else if !options.keepAlive {
                    writer.append("Connection: close\r\n")
                } else if options.clientMinorVersion == 0 {
                    writer.append("Connection: keep-alive\r\n")
                }
                if !hasRequestID {
                    writer.append("X-Request-Id: ")
                    writer.append(options.requestID)
                    writer.append("\r\n")
                }
                writer.append("\r\n")
            }
        }
    }

    private func keeps(_ field: HeaderField, in raw: UnsafeRawBufferPointer, removeFraming: Bool,
                       removeChunking: Bool) -> Bool {
        let start = Int(field.nameStart), end = Int(field.nameEnd)
        if removeChunking || removeFraming, HeadSyntax.equalsIgnoringCase(raw, start, end, "transfer-encoding") {
            return false
        }
        if removeFraming, HeadSyntax.equalsIgnoringCase(raw, start, end, "content-length") { return false }
        return !field.isHopByHop(in: raw, connectionOptions: connectionOptions)
    }
}
