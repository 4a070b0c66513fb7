import NIOCore

extension RequestHead {
    /// Writes the head the backend gets: the client's field lines copied byte for byte, less the
    /// hop-by-hop ones (RFC 9110 §7.6.1), `Expect` (we answered it) and the forwarding fields we
    /// set ourselves, followed by `X-Forwarded-*`, the request id and, for an upgrade, the
    /// upgrade fields again. Rebuilt from the client's original for every try.
    func writeForwarded(into buffer: inout ByteBuffer, pathPrefix: String, hostHeader: @autoclosure () -> String,
                        clientAddress: String, requestID: String) {
        bytes.withUnsafeReadableBytes { raw in
            buffer.writeString(method)
            buffer.writeInteger(HeadSyntax.space)
            let target = UnsafeRawBufferPointer(rebasing: raw[targetStart..<targetEnd])
            // `*` (OPTIONS for the whole server) names no path, so it gets no prefix.
            let isAsterisk = target.count == 1 && target[0] == UInt8(ascii: "*")
            if !isAsterisk { buffer.writeString(pathPrefix) }
            if target.first == UInt8(ascii: "/") || isAsterisk {
                buffer.writeBytes(target)
            } else {
                buffer.writeString(Self.originForm(of: String(decoding: target, as: UTF8.self)))
            }
            buffer.writeStaticString(" HTTP/1.1\r\n")
            var forwardedFor: [HeaderField] = []
            var host: HeaderField?
            for field in fields {
                switch Self.role(of: field, in: raw, connectionOptions: connectionOptions) {
                case .keep:
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[field.lineStart..<field.lineEnd]))
                    buffer.writeStaticString("\r\n")
                case .host:
                    host = field
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[field.lineStart..<field.lineEnd]))
                    buffer.writeStaticString("\r\n")
                case .forwardedFor:
                    forwardedFor.append(field)
                case .drop:
                    break
                }
            }
            buffer.writeStaticString("X-Forwarded-For: ")
            for field in forwardedFor where field.valueEnd > field.valueStart {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)]))
                buffer.writeStaticString(", ")
            }
            buffer.writeString(clientAddress)
            buffer.writeStaticString("\r\nX-Forwarded-Proto: http\r\n")
            if let host {
                buffer.writeStaticString("X-Forwarded-Host: ")
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[Int(host.valueStart)..<Int(host.valueEnd)]))
                buffer.writeStaticString("\r\n")
            } else {
                buffer.writeStaticString("Host: ")
                buffer.writeString(hostHeader())
                buffer.writeStaticString("\r\n")
            }
            buffer.writeStaticString("X-Request-Id: ")
            buffer.writeString(requestID)
            buffer.writeStaticString("\r\n")
            if let upgrade {
                // Hop-by-hop, so left out above; asked for again on this hop (RFC 9110 §7.8).
                buffer.writeStaticString("Connection: upgrade\r\nUpgrade: ")
                buffer.writeString(upgrade)
                buffer.writeStaticString("\r\n")
            }
            buffer.writeStaticString("\r\n")
        }
    }

    private enum ForwardingRole {
        case keep
        case host
        case forwardedFor
        case drop
    }

    private static func role(of field: HeaderField, in raw: UnsafeRawBufferPointer,
                             connectionOptions: [String]) -> ForwardingRole {
        let start = Int(field.nameStart), end = Int(field.nameEnd)
        switch end - start {
        case 2 where HeadSyntax.equalsIgnoringCase(raw, start, end, "te"): return .drop
        case 4 where HeadSyntax.equalsIgnoringCase(raw, start, end, "host"): return .host
        case 6 where HeadSyntax.equalsIgnoringCase(raw, start, end, "expect"): return .drop
        case 7 where HeadSyntax.equalsIgnoringCase(raw, start, end, "trailer"),
             7 where HeadSyntax.equalsIgnoringCase(raw, start, end, "upgrade"):
            return .drop
        case 10 where HeadSyntax.equalsIgnoringCase(raw, start, end, "connection"),
             10 where HeadSyntax.equalsIgnoringCase(raw, start, end, "keep-alive"):
            return .drop
        case 12 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-request-id"): return .drop
        case 15 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-forwarded-for"): return .forwardedFor
        case 16 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-connection"),
             16 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-forwarded-host"):
            return .drop
        case 17 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-forwarded-proto"): return .drop
        case 18 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-authenticate"): return .drop
        case 19 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-authorization"): return .drop
        default:
            break
        }
        if !connectionOptions.isEmpty, isNamed(field, in: raw, by: connectionOptions) { return .drop }
        return .keep
    }

    /// Whether `Connection` names the field. A client cannot make us drop the framing or `Host`.
    static func isNamed(_ field: HeaderField, in raw: UnsafeRawBufferPointer, by options: [String]) -> Bool {
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[Int(field.nameStart)..<Int(field.nameEnd)]),
                          as: UTF8.self).lowercased()
        guard name != "transfer-encoding", name != "content-length", name != "host" else { return false }
        return options.contains(name)
    }

    /// RFC 9112 §3.2: a request target in absolute form becomes origin form for the backend.
    static func originForm(of uri: String) -> String {
        guard !uri.hasPrefix("/"), uri != "*", let schemeEnd = uri.range(of: "://") else { return uri }
        let afterAuthority = uri[schemeEnd.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" })
        guard let afterAuthority else { return "/" }
        let rest = uri[afterAuthority...]
        return rest.hasPrefix("/") ? String(rest) : "/" + rest
    }
}
