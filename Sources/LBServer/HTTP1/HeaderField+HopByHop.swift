extension HeaderField {
    /// Whether the field describes one connection and must not be forwarded (RFC 9110 §7.6.1):
    /// one of the fixed hop-by-hop names, or a name the message's `Connection` header lists
    /// (`connectionOptions`). `Connection` cannot make us drop the framing or `Host`.
    /// `Transfer-Encoding` is not among them: the proxy forwards bodies in their framing.
    func isHopByHop(in raw: UnsafeRawBufferPointer, connectionOptions: [String]) -> Bool {
        let start = Int(nameStart), end = Int(nameEnd)
        switch end - start {
        case 2 where HeadSyntax.equalsIgnoringCase(raw, start, end, "te"),
             7 where HeadSyntax.equalsIgnoringCase(raw, start, end, "trailer"),
             7 where HeadSyntax.equalsIgnoringCase(raw, start, end, "upgrade"),
             10 where HeadSyntax.equalsIgnoringCase(raw, start, end, "connection"),
             10 where HeadSyntax.equalsIgnoringCase(raw, start, end, "keep-alive"),
             16 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-connection"),
             18 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-authenticate"),
             19 where HeadSyntax.equalsIgnoringCase(raw, start, end, "proxy-authorization"):
            return true
        default:
            break
        }
        guard !connectionOptions.isEmpty else { return false }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self).lowercased()
        guard name != "transfer-encoding", name != "content-length", name != "host" else { return false }
        return connectionOptions.contains(name)
    }
}
