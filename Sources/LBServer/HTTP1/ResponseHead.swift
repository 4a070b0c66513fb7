import NIOCore

/// A backend's response head, parsed from its bytes and keeping them, like `RequestHead`.
struct ResponseHead {
    /// The head as received, from the status line through the blank line.
    let bytes: ByteBuffer
    let status: Int
    /// The status code and reason phrase (`200 OK`) as offsets into `bytes`, copied as they are.
    let statusTextStart: Int
    let statusTextEnd: Int
    let minorVersion: Int
    let fields: [HeaderField]
    let framing: BodyFraming
    /// Whether the backend's connection may carry another request after this response.
    let keepAlive: Bool
    let hasRequestID: Bool
    /// Field names the `Connection` header lists (lower-cased), which are not forwarded.
    let connectionOptions: [String]
    /// The `Upgrade` value of a `101` answer.
    let upgrade: String?

    /// Parses a complete head. The framing depends on the request: a response to HEAD has no body.
    static func parse(_ bytes: ByteBuffer, requestWasHEAD: Bool, maximumFields: Int = 1_000) throws(HeadError) -> ResponseHead {
        try bytes.withUnsafeReadableBytes { raw throws(HeadError) in
            try parse(raw, bytes: bytes, requestWasHEAD: requestWasHEAD, maximumFields: maximumFields)
        }
    }

    private static func parse(_ raw: UnsafeRawBufferPointer, bytes: ByteBuffer, requestWasHEAD: Bool,
                              maximumFields: Int) throws(HeadError) -> ResponseHead {
        // The scans below stop at CRs without bounds checks: the blank line guarantees one.
        guard HeadSyntax.endsWithBlankLine(raw) else { throw .malformed("incomplete head") }
        // Status line (RFC 9112 §4): HTTP-version SP 3DIGIT SP [reason-phrase] CRLF.
        let minorVersion = try RequestHead.version(raw, at: 0)
        guard raw.count >= 14, raw[8] == HeadSyntax.space else { throw .malformed("malformed status line") }
        var status = 0
        for index in 9..<12 {
            let digit = raw[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw .malformed("malformed status code") }
            status = status * 10 + Int(digit)
        }
        guard status >= 100 else { throw .malformed("malformed status code") }
        var index = 12
        if raw[index] == HeadSyntax.space {
            index += 1
            while raw[index] != HeadSyntax.cr {
                guard HeadSyntax.isFieldValueByte(raw[index]) else { throw .malformed("control character in the reason phrase") }
                index += 1
            }
        }
        guard raw[index] == HeadSyntax.cr, raw[index + 1] == HeadSyntax.lf else { throw .malformed("malformed status line") }
        let statusTextEnd = index
        index += 2

        var fields: [HeaderField] = []
        fields.reserveCapacity(16)
        _ = try HeadSyntax.parseFields(raw, from: index, to: raw.count, maximumFields: maximumFields, into: &fields)

        var framingFields = FramingFields()
        var hasRequestID = false
        var upgrade: String?
        for field in fields where try !framingFields.take(field, in: raw) {
            let nameStart = Int(field.nameStart), nameEnd = Int(field.nameEnd)
            switch nameEnd - nameStart {
            case 7 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "upgrade"):
                upgrade = String(decoding: UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)]),
                                 as: UTF8.self)
            case 12 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "x-request-id"):
                hasRequestID = true
            default:
                break
            }
        }
        // RFC 9112 §6.3, in its order.
        let framing: BodyFraming
        if requestWasHEAD || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else if framingFields.sawTransferEncoding {
            // Both framings from a backend is a message we cannot forward unambiguously.
            guard framingFields.contentLength == nil else {
                throw .malformed("Content-Length together with Transfer-Encoding")
            }
            framing = framingFields.chunked ? .chunked : .untilClose
        } else if let contentLength = framingFields.contentLength {
            framing = .length(contentLength)
        } else {
            framing = .untilClose
        }
        return ResponseHead(
            bytes: bytes, status: status, statusTextStart: 9, statusTextEnd: statusTextEnd, minorVersion: minorVersion,
            fields: fields, framing: framing,
            // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing, and
            // the connection must be closed after it.
            keepAlive: framingFields.persists(minorVersion: minorVersion) && framing != .untilClose
                && !(framingFields.sawTransferEncoding && minorVersion == 0),
            hasRequestID: hasRequestID, connectionOptions: framingFields.connectionOptions, upgrade: upgrade)
    }
}
