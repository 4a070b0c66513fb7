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
    /// byte, less the hop-by-hop ones, with our own `Connection` and the request id.
    func writeForwarded(into buffer: inout ByteBuffer, options: ForwardingOptions) {
        bytes.withUnsafeReadableBytes { raw in
            buffer.writeStaticString(options.clientMinorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[statusTextStart..<statusTextEnd]))
            buffer.writeStaticString("\r\n")
            for field in fields where keeps(field, in: raw, removeChunking: options.removeChunking) {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[field.lineStart..<field.lineEnd]))
                buffer.writeStaticString("\r\n")
            }
            if status == 101 {
                buffer.writeStaticString("Connection: upgrade\r\nUpgrade: ")
                buffer.writeString(upgrade ?? "")
                buffer.writeStaticString("\r\n")
            } else if !options.keepAlive {
                buffer.writeStaticString("Connection: close\r\n")
            } else if options.clientMinorVersion == 0 {
                buffer.writeStaticString("Connection: keep-alive\r\n")
            }
            if !hasRequestID {
                buffer.writeStaticString("X-Request-Id: ")
                buffer.writeString(options.requestID)
                buffer.writeStaticString("\r\n")
            }
            buffer.writeStaticString("\r\n")
        }
    }

    private func keeps(_ field: HeaderField, in raw: UnsafeRawBufferPointer, removeChunking: Bool) -> Bool {
        let start = Int(field.nameStart), end = Int(field.nameEnd)
        switch end - start {
        case 2 where HeadSyntax.equalsIgnoringCase(raw, start, end, "te"): return false
        case 7 where HeadSyntax.equalsIgnoringCase(raw, start, end, "trailer"),
             7 where HeadSyntax.equalsIgnoringCase(raw, start, end, "upgrade"):
            return false
        case 10 where HeadSyntax.equalsIgnoringCase(raw, start, end, "connection"),
             10 where HeadSyntax.equalsIgnoringCase(raw, start, end, "keep-alive"):
            return false
        case 16 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-connection"): return false
        case 17 where HeadSyntax.equalsIgnoringCase(raw, start, end, "transfer-encoding"): return !removeChunking
        case 18 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-authenticate"): return false
        case 19 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-authorization"): return false
        default: break
        }
        return connectionOptions.isEmpty || !RequestHead.isNamed(field, in: raw, by: connectionOptions)
    }
}
