import NIOCore

/// A client's request head, parsed from its bytes and keeping them: forwarding copies the field
/// lines the backend should see instead of decoding every field into strings and encoding them
/// again. What the proxy decides on (framing, keep-alive, upgrade, expectations) is worked out
/// once, at parse time.
///
/// A class, not a struct: the exchange keeps it and every try reads it, and a struct of this many
/// references would be retained and released field by field at each copy.
final class RequestHead {
    /// The head as received, from the request line through the blank line.
    let bytes: ByteBuffer
    let method: String
    /// The request target's bytes, as offsets into `bytes`.
    let targetStart: Int
    let targetEnd: Int
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    let minorVersion: Int
    let fields: [HeaderField]
    let framing: BodyFraming
    /// Whether the client's connection may carry another request after this one.
    let keepAlive: Bool
    /// The protocol asked for with `Upgrade` and `Connection: upgrade`, if any.
    let upgrade: String?
    let expectsContinue: Bool
    /// Field names the `Connection` header lists (lower-cased), which are not forwarded.
    let connectionOptions: [String]
    /// The client's own `X-Request-Id`, if it sent one (sane or not).
    let clientRequestID: String?
    /// Whether the request has its `Host` field (it may have at most one).
    let hasHost: Bool
    /// Which of RFC 9112 §3.2's forms the target takes (authority form, CONNECT's, is refused).
    let targetForm: TargetForm
    /// The client sent `Idempotency-Key` (IETF draft): the request may be repeated like an
    /// idempotent one.
    let hasIdempotencyKey: Bool

    /// The request target's form (RFC 9112 §3.2).
    enum TargetForm: Equatable {
        /// `/path?query`.
        case origin
        /// `*`, with OPTIONS only.
        case asterisk
        /// `http://authority/path?query`: the authority (offsets into `bytes`) replaces Host, and
        /// the backend gets the origin form.
        case absolute(authorityStart: Int, authorityEnd: Int)
    }

    private init(bytes: ByteBuffer, method: String, targetStart: Int, targetEnd: Int, minorVersion: Int,
                 fields: [HeaderField], framing: BodyFraming, keepAlive: Bool, upgrade: String?,
                 expectsContinue: Bool, connectionOptions: [String], clientRequestID: String?, hasHost: Bool,
                 targetForm: TargetForm, hasIdempotencyKey: Bool) {
        self.bytes = bytes
        self.method = method
        self.targetStart = targetStart
        self.targetEnd = targetEnd
        self.minorVersion = minorVersion
        self.fields = fields
        self.framing = framing
        self.keepAlive = keepAlive
        self.upgrade = upgrade
        self.expectsContinue = expectsContinue
        self.connectionOptions = connectionOptions
        self.clientRequestID = clientRequestID
        self.hasHost = hasHost
        self.targetForm = targetForm
        self.hasIdempotencyKey = hasIdempotencyKey
    }

    /// RFC 9110 §9.2.2: a method that may be repeated without changing the outcome.
    var isIdempotent: Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE": true
        default: false
        }
    }

    /// Whether the request may be sent again once it may have reached a backend: an idempotent
    /// method, or an `Idempotency-Key` that lets the backend recognise the repeat.
    var isRepeatable: Bool { hasIdempotencyKey || isIdempotent }

    var isHEAD: Bool { method == "HEAD" }

    /// The authority of an absolute-form target, which stands in for Host; nil for other forms.
    var targetAuthority: String? {
        guard case .absolute(let start, let end) = targetForm else { return nil }
        return bytes.getString(at: bytes.readerIndex + start, length: end - start)
    }

    /// The request target as a string (for logs and absolute-form rewriting).
    var target: String {
        bytes.getString(at: bytes.readerIndex + targetStart, length: targetEnd - targetStart) ?? ""
    }

    /// The value of the first field named `name` (any case), or nil.
    func value(named name: String) -> String? {
        values(named: name).first
    }

    /// The values of every field named `name` (any case), in order.
    func values(named name: String) -> [String] {
        let wanted = Array(name.lowercased().utf8)
        var found: [String] = []
        bytes.withUnsafeReadableBytes { raw in
            for field in fields where Int(field.nameEnd - field.nameStart) == wanted.count {
                let start = Int(field.nameStart)
                var same = true
                for offset in 0..<wanted.count where raw[start + offset] | 0x20 != wanted[offset] {
                    same = false
                    break
                }
                if same {
                    found.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)]),
                                        as: UTF8.self))
                }
            }
        }
        return found
    }

    /// What bounds a request head (the daemon's `--max-request-line`, `--max-header-bytes`,
    /// `--max-headers`).
    struct Limits {
        var targetBytes = 8 * 1024
        var fieldBytes = 32 * 1024
        var fields = 100
    }

    /// Parses a complete head (`bytes` runs from the request line through the blank line).
    static func parse(_ bytes: ByteBuffer, limits: Limits) throws(HeadError) -> RequestHead {
        try bytes.withUnsafeReadableBytes { raw throws(HeadError) in try parse(raw, bytes: bytes, limits: limits) }
    }

    private static func parse(_ raw: UnsafeRawBufferPointer, bytes: ByteBuffer, limits: Limits) throws(HeadError) -> RequestHead {
        // The scans below stop at CRs without bounds checks: the blank line guarantees one.
        guard HeadSyntax.endsWithBlankLine(raw) else { throw .malformed("incomplete head") }
        // Request line (RFC 9112 §3): method SP request-target SP HTTP-version CRLF.
        var index = 0
        while index < raw.count && HeadSyntax.isToken(raw[index]) { index += 1 }
        guard index > 0, index < raw.count, raw[index] == HeadSyntax.space else {
            throw .malformed("malformed request method")
        }
        let method = String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<index]), as: UTF8.self)
        index += 1
        let targetStart = index
        while index < raw.count {
            let byte = raw[index]
            if byte == HeadSyntax.space || byte == HeadSyntax.cr { break }
            // RFC 9112 §3.2: a target is a URI, ASCII only; raw UTF-8 and controls are refused rather
            // than passed to a backend that may read them differently.
            guard byte > 0x20 && byte < 0x7F else { throw .malformed("control or non-ASCII byte in the request target") }
            index += 1
        }
        let targetEnd = index
        guard targetEnd > targetStart else { throw .malformed("empty request target") }
        guard targetEnd - targetStart <= limits.targetBytes else {
            throw HeadError(kind: .targetTooLong, description: "request target longer than \(limits.targetBytes) bytes")
        }
        guard index + 10 <= raw.count, raw[index] == HeadSyntax.space else { throw .malformed("malformed request line") }
        index += 1
        let minorVersion = try version(raw, at: index)
        index += 8
        guard raw[index] == HeadSyntax.cr, raw[index + 1] == HeadSyntax.lf else { throw .malformed("malformed request line") }
        index += 2

        var fields: [HeaderField] = []
        fields.reserveCapacity(16)
        let fieldBytes = try HeadSyntax.parseFields(raw, from: index, to: raw.count, maximumFields: limits.fields, into: &fields)
        guard fieldBytes <= limits.fieldBytes else {
            throw .fieldsTooLarge("header block larger than \(limits.fieldBytes) bytes")
        }

        var framingFields = FramingFields()
        var upgradeValue: String?
        var expectsContinue = false
        var hosts = 0
        var hostValid = true
        var hasIdempotencyKey = false
        var clientRequestID: String?
        for field in fields where try !framingFields.take(field, in: raw) {
            let nameStart = Int(field.nameStart), nameEnd = Int(field.nameEnd)
            let valueStart = Int(field.valueStart), valueEnd = Int(field.valueEnd)
            switch nameEnd - nameStart {
            case 4 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "host"):
                hosts += 1
                hostValid = hostValid && HeadSyntax.isValidAuthority(raw, valueStart, valueEnd)
            case 15 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "idempotency-key"):
                hasIdempotencyKey = true
            case 6 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "expect"):
                if HeadSyntax.equalsIgnoringCase(raw, valueStart, valueEnd, "100-continue") { expectsContinue = true }
            case 7 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "upgrade"):
                upgradeValue = String(decoding: UnsafeRawBufferPointer(rebasing: raw[valueStart..<valueEnd]), as: UTF8.self)
            case 12 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "x-request-id"):
                if clientRequestID == nil {
                    clientRequestID = String(decoding: UnsafeRawBufferPointer(rebasing: raw[valueStart..<valueEnd]), as: UTF8.self)
                }
            default:
                break
            }
        }
        // RFC 9110 §9.3.6: the proxy does not open tunnels to arbitrary authorities.
        guard method != "CONNECT" else { throw .notImplemented("CONNECT is not supported") }
        // RFC 9112 §3.2: one Host, a valid one, and always one in HTTP/1.1.
        guard hosts <= 1 else { throw .malformed("more than one Host header") }
        guard hosts == 1 || minorVersion == 0 else { throw .malformed("HTTP/1.1 request without Host") }
        guard hostValid else { throw .malformed("Host is not a valid host[:port]") }
        let targetForm = try Self.targetForm(raw, targetStart, targetEnd, method: method)
        let framing: BodyFraming
        if framingFields.sawTransferEncoding {
            // RFC 9112 §6.1, §6.3: both framings at once, chunked missing, repeated or not last,
            // or a list a backend may read differently, is how requests are smuggled. Exactly one
            // field saying exactly `chunked` is accepted; HTTP/1.0 has no transfer codings at all.
            guard framingFields.contentLength == nil else {
                throw .malformed("Content-Length together with Transfer-Encoding")
            }
            guard minorVersion == 1 else { throw .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            guard framingFields.transferEncodingFields == 1 else {
                throw .malformed("more than one Transfer-Encoding field")
            }
            guard !framingFields.otherCoding else {
                throw .notImplemented("Transfer-Encoding other than chunked")
            }
            guard framingFields.chunked else { throw .malformed("Transfer-Encoding not ending in chunked") }
            framing = .chunked
        } else if let contentLength = framingFields.contentLength {
            framing = .length(contentLength)
        } else {
            framing = .none
        }
        return RequestHead(
            bytes: bytes, method: method, targetStart: targetStart, targetEnd: targetEnd, minorVersion: minorVersion,
            fields: fields, framing: framing,
            keepAlive: framingFields.persists(minorVersion: minorVersion),
            // RFC 9110 §7.8: a server must ignore Upgrade in an HTTP/1.0 request.
            upgrade: framingFields.upgrade && minorVersion == 1 ? upgradeValue : nil,
            expectsContinue: expectsContinue && minorVersion == 1,
            connectionOptions: framingFields.connectionOptions, clientRequestID: clientRequestID,
            hasHost: hosts == 1, targetForm: targetForm, hasIdempotencyKey: hasIdempotencyKey)
    }

    /// The form of the target at `raw[start..<end]` (RFC 9112 §3.2): origin form, `*` for
    /// OPTIONS, or an absolute `http`/`https` URI with a valid authority and no userinfo.
    /// Anything else (a relative path, another scheme, CONNECT's authority form) is refused.
    private static func targetForm(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                                   method: String) throws(HeadError) -> TargetForm {
        if raw[start] == UInt8(ascii: "/") { return .origin }
        if end - start == 1, raw[start] == UInt8(ascii: "*") {
            guard method == "OPTIONS" else { throw .malformed("the target * is for OPTIONS only") }
            return .asterisk
        }
        var index = start
        while index < end, raw[index] != HeadSyntax.colon { index += 1 }
        let scheme = index - start
        guard scheme == 4 && HeadSyntax.equalsIgnoringCase(raw, start, index, "http")
                || scheme == 5 && HeadSyntax.equalsIgnoringCase(raw, start, index, "https") else {
            throw .malformed("request target is neither a path nor an http URI")
        }
        guard end - index >= 3, raw[index + 1] == UInt8(ascii: "/"), raw[index + 2] == UInt8(ascii: "/") else {
            throw .malformed("request target is neither a path nor an http URI")
        }
        let authorityStart = index + 3
        var authorityEnd = authorityStart
        while authorityEnd < end, raw[authorityEnd] != UInt8(ascii: "/"), raw[authorityEnd] != UInt8(ascii: "?"),
              raw[authorityEnd] != UInt8(ascii: "#") {
            authorityEnd += 1
        }
        guard HeadSyntax.isValidAuthority(raw, authorityStart, authorityEnd) else {
            throw .malformed("the target's authority is not a valid host[:port]")
        }
        return .absolute(authorityStart: authorityStart, authorityEnd: authorityEnd)
    }

    /// `HTTP/1.0` or `HTTP/1.1` at `index`: the minor version. Another well-formed version is
    /// refused with 505, anything else with 400.
    static func version(_ raw: UnsafeRawBufferPointer, at index: Int) throws(HeadError) -> Int {
        guard raw.count >= index + 8,
              raw[index] == UInt8(ascii: "H"), raw[index + 1] == UInt8(ascii: "T"), raw[index + 2] == UInt8(ascii: "T"),
              raw[index + 3] == UInt8(ascii: "P"), raw[index + 4] == UInt8(ascii: "/"),
              raw[index + 6] == UInt8(ascii: "."),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(raw[index + 5]),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(raw[index + 7])
        else { throw .malformed("malformed HTTP version") }
        guard raw[index + 5] == UInt8(ascii: "1"), raw[index + 7] <= UInt8(ascii: "1") else {
            throw HeadError(kind: .versionNotSupported, description: "HTTP version not supported")
        }
        return Int(raw[index + 7] - UInt8(ascii: "0"))
    }
}
