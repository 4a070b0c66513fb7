import NIOCore

extension RequestHead {
    /// Writes the head the backend gets: the client's field lines copied byte for byte, less the
    /// hop-by-hop ones (RFC 9110 §7.6.1), `Expect` (we answered it), the forwarding fields we set
    /// ourselves and the client's framing fields, followed by the framing the proxy sends (one
    /// `Content-Length` or one `Transfer-Encoding: chunked`, never the client's lines),
    /// `X-Forwarded-*`, the request id and, for an allowed upgrade, the upgrade fields again.
    /// An absolute-form target goes in origin form, its authority as Host (RFC 9112 §3.2.2).
    /// Rebuilt from the client's original for every try.
    func writeForwarded(into buffer: inout ByteBuffer, pathPrefix: String, hostHeader: @autoclosure () -> String,
                        clientAddress: String, clientScheme: String = "http", requestID: String, upgrade: String?) {
        let authority = targetAuthority
        let addedHost = authority ?? (hasHost ? "" : hostHeader())
        // Each byte of the original at most twice (the Host value is also X-Forwarded-Host's),
        // ", " per X-Forwarded-For field, what we add (the authority twice), and 256 for the
        // fixed names and the framing field.
        var bound = 2 * bytes.readableBytes + 2 * fields.count + pathPrefix.utf8.count + 2 * addedHost.utf8.count
            + clientAddress.utf8.count + requestID.utf8.count + 2 * (upgrade?.utf8.count ?? 0) + 256
        // `*` (OPTIONS for the whole server) names no path, so it gets no prefix.
        let targetIsAsterisk = targetForm == .asterisk
        let rewrittenTarget = authority == nil ? nil : Self.originForm(of: target)
        bound += rewrittenTarget?.utf8.count ?? 0
        bytes.withUnsafeReadableBytes { raw in
            buffer.writeHead(bound: bound) { writer in
                writer.append(method)
                writer.append(" ")
                if !targetIsAsterisk { writer.append(pathPrefix) }
                if let rewrittenTarget {
                    writer.append(rewrittenTarget)
                } else {
                    writer.append(raw, targetStart, targetEnd)
                }
                writer.append(" HTTP/1.1\r\n")
                var forwardedFor: [HeaderField] = []
                var host: HeaderField?
                for field in fields {
                    switch Self.role(of: field, in: raw, connectionOptions: connectionOptions) {
                    case .keep:
                        writer.append(raw, field.lineStart, field.lineEnd)
                        writer.append("\r\n")
                    case .host where authority == nil:
                        host = field
                        writer.append(raw, field.lineStart, field.lineEnd)
                        writer.append("\r\n")
                    case .host:
                        break
                    case .forwardedFor:
                        forwardedFor.append(field)
                    case .drop:
                        break
                    }
                }
                switch framing {
                case .length(let length):
                    writer.append("Content-Length: ")
                    writer.append(String(length))
                    writer.append("\r\n")
                case .chunked:
                    writer.append("Transfer-Encoding: chunked\r\n")
                case .none, .untilClose:
                    break
                }
                writer.append("X-Forwarded-For: ")
                for field in forwardedFor where field.valueEnd > field.valueStart {
                    writer.append(raw, Int(field.valueStart), Int(field.valueEnd))
                    writer.append(", ")
                }
                writer.append(clientAddress)
                writer.append("\r\nX-Forwarded-Proto: ")
                writer.append(clientScheme)
                writer.append("\r\n")
                if let host {
                    writer.append("X-Forwarded-Host: ")
                    writer.append(raw, Int(host.valueStart), Int(host.valueEnd))
                    writer.append("\r\n")
                } else {
                    writer.append("Host: ")
                    writer.append(addedHost)
                    if authority != nil {
                        writer.append("\r\nX-Forwarded-Host: ")
                        writer.append(addedHost)
                    }
                    writer.append("\r\n")
                }
                writer.append("X-Request-Id: ")
                writer.append(requestID)
                writer.append("\r\n")
                if let upgrade {
                    // Hop-by-hop, so left out above; asked for again on this hop (RFC 9110 §7.8).
                    writer.append("Connection: upgrade\r\nUpgrade: ")
                    writer.append(upgrade)
                    writer.append("\r\n")
                }
                writer.append("\r\n")
            }
        }
    }

    private enum ForwardingRole {
        case keep
        case host
        case forwardedFor
        case drop
    }

    /// What becomes of a client's field on the way to the backend: the forwarding fields we set
    /// ourselves, `Expect` (answered by us) and the framing fields (the proxy writes its own) are
    /// dropped like the hop-by-hop ones.
    private static func role(of field: HeaderField, in raw: UnsafeRawBufferPointer,
                             connectionOptions: [String]) -> ForwardingRole {
        let start = Int(field.nameStart), end = Int(field.nameEnd)
        switch end - start {
        case 4 where HeadSyntax.equalsIgnoringCase(raw, start, end, "host"): return .host
        case 15 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-forwarded-for"): return .forwardedFor
        case 6 where HeadSyntax.equalsIgnoringCase(raw, start, end, "expect"),
             14 where HeadSyntax.equalsIgnoringCase(raw, start, end, "content-length"),
             17 where HeadSyntax.equalsIgnoringCase(raw, start, end, "transfer-encoding"),
             12 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-request-id"),
             16 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-forwarded-host"),
             17 where HeadSyntax.equalsIgnoringCase(raw, start, end, "x-forwarded-proto"):
            return .drop
        default:
            return field.isHopByHop(in: raw, connectionOptions: connectionOptions) ? .drop : .keep
        }
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
