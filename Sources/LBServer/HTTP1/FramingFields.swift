/// What the fields shared by requests and responses say about framing and the connection:
/// `Content-Length`, `Transfer-Encoding` and `Connection`, gathered field by field.
struct FramingFields {
    var contentLength: Int?
    var sawTransferEncoding = false
    /// How many `Transfer-Encoding` field lines there were.
    var transferEncodingFields = 0
    /// `chunked` was the last coding listed so far.
    var chunked = false
    /// A coding other than `chunked` was listed (`gzip`, `identity`...).
    var otherCoding = false
    var close = false
    var keepAlive = false
    var upgrade = false
    /// Other names `Connection` lists, lower-cased: fields that are not forwarded.
    var connectionOptions: [String] = []

    /// Takes in the field if it is one of the three; returns false for any other field.
    mutating func take(_ field: HeaderField, in raw: UnsafeRawBufferPointer) throws(HeadError) -> Bool {
        let nameStart = Int(field.nameStart), nameEnd = Int(field.nameEnd)
        let valueStart = Int(field.valueStart), valueEnd = Int(field.valueEnd)
        switch nameEnd - nameStart {
        case 10 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "connection"):
            try HeadSyntax.forEachListElement(raw, valueStart, valueEnd) { start, end throws(HeadError) in
                if HeadSyntax.equalsIgnoringCase(raw, start, end, "close") {
                    close = true
                } else if HeadSyntax.equalsIgnoringCase(raw, start, end, "keep-alive") {
                    keepAlive = true
                } else if HeadSyntax.equalsIgnoringCase(raw, start, end, "upgrade") {
                    upgrade = true
                } else {
                    connectionOptions.append(
                        String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self).lowercased())
                }
            }
        case 14 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "content-length"):
            // Exactly one Content-Length of digits only. RFC 9110 §8.6 lets a recipient accept a
            // list of equal values; refusing it, as nginx and NIOHTTP1 do, leaves no reading of
            // the framing for a backend to differ on.
            guard contentLength == nil else { throw .malformed("more than one Content-Length") }
            guard let length = HeadSyntax.contentLength(raw, valueStart, valueEnd) else {
                throw .malformed("invalid Content-Length")
            }
            contentLength = length
        case 17 where HeadSyntax.equalsIgnoringCase(raw, nameStart, nameEnd, "transfer-encoding"):
            sawTransferEncoding = true
            transferEncodingFields += 1
            try HeadSyntax.forEachListElement(raw, valueStart, valueEnd, refusingEmptyElements: true) {
                start, end throws(HeadError) in
                // RFC 9112 §6.1: chunked must be the final coding, applied once.
                guard !chunked else { throw .malformed("Transfer-Encoding with a coding after chunked") }
                if HeadSyntax.equalsIgnoringCase(raw, start, end, "chunked") {
                    chunked = true
                } else {
                    otherCoding = true
                }
            }
        default:
            return false
        }
        return true
    }

    /// Whether the connection may carry another message after this one (RFC 9112 §9.3).
    func persists(minorVersion: Int) -> Bool {
        minorVersion == 1 ? !close : keepAlive && !close
    }
}
