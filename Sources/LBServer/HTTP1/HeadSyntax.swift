import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a message head was refused, with the status the client gets for it.
struct HeadError: Error, Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        /// 400: the bytes are not a well-formed HTTP/1.1 head, or its framing is ambiguous.
        case malformed
        /// 414: the request target is longer than allowed.
        case targetTooLong
        /// 431: too many header fields, or too many bytes of them.
        case fieldsTooLarge
        /// 501: a method or transfer coding the proxy does not implement (CONNECT, a coding
        /// other than `chunked`).
        case notImplemented
        /// 505: a well-formed version other than HTTP/1.0 and HTTP/1.1.
        case versionNotSupported
    }

    let kind: Kind
    let description: String

    static func malformed(_ reason: String) -> HeadError { HeadError(kind: .malformed, description: reason) }
    static func fieldsTooLarge(_ reason: String) -> HeadError { HeadError(kind: .fieldsTooLarge, description: reason) }
    static func notImplemented(_ reason: String) -> HeadError { HeadError(kind: .notImplemented, description: reason) }

    /// The status code a client gets for the refusal.
    var status: Int {
        switch kind {
        case .malformed: 400
        case .targetTooLong: 414
        case .fieldsTooLarge: 431
        case .notImplemented: 501
        case .versionNotSupported: 505
        }
    }
}

/// One header field line of a head, as offsets into the head's bytes. `name` and `value` are
/// the field's name and its value without surrounding whitespace; the line to forward is
/// `lineStart..<valueEnd`.
struct HeaderField {
    let nameStart: Int32
    let nameEnd: Int32
    let valueStart: Int32
    let valueEnd: Int32

    var lineStart: Int { Int(nameStart) }
    var lineEnd: Int { Int(valueEnd) }
}

/// The grammar shared by request and response heads (RFC 9112 §2, §5; RFC 9110 §5.5), over raw
/// bytes. Strict where leniency has been used to smuggle requests: CRLF line ends only, no space
/// before the colon, no line folding, no control characters in values.
enum HeadSyntax {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")

    /// RFC 9110 §5.6.2 `tchar` as two 64-bit masks over ASCII (bytes 0-63 and 64-127): constants,
    /// so the hot path reads no lazily initialised global.
    private static let tokenMaskLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenMaskHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        let mask = byte < 64 ? tokenMaskLow : byte < 128 ? tokenMaskHigh : 0
        return (mask >> UInt64(byte & 63)) & 1 == 1
    }

    /// A byte allowed inside a field value: HTAB, visible ASCII, space, or obs-text.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= 0x20 && byte != 0x7F)
    }

    /// Where the head in `bytes` ends: the index just past its blank line, or nil if the blank
    /// line has not arrived. Scanning starts at `from` (what an earlier call already scanned) so
    /// a head that trickles in is not scanned again from its start. Throws on a bare LF.
    static func endOfHead(in bytes: UnsafeRawBufferPointer, from: Int) throws(HeadError) -> Int? {
        var index = from
        let count = bytes.count
        guard let base = bytes.baseAddress else { return nil }
        while index < count {
            // memchr finds the next LF many bytes at a time.
            guard let found = memchr(base + index, Int32(lf), count - index) else { return nil }
            index = base.distance(to: UnsafeRawPointer(found))
            guard index > 0, bytes[index - 1] == cr else { throw .malformed("bare LF in the head") }
            // An empty line: CRLF CRLF, or a head that starts with its blank line.
            if index >= 3, bytes[index - 2] == lf, bytes[index - 3] == cr { return index + 1 }
            index += 1
        }
        return nil
    }

    /// Whether `bytes` (a request head, or the start of one) begin with the method `HEAD`, stray
    /// CRs and LFs before it aside: a lenient client parser skips them and reads a HEAD there.
    static func isHEADRequest(_ bytes: ByteBuffer) -> Bool {
        bytes.readableBytesView.drop { $0 == cr || $0 == lf }.starts(with: "HEAD ".utf8)
    }

    /// Whether `bytes` end with CRLF CRLF, as every complete head does.
    static func endsWithBlankLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        return count >= 4 && bytes[count - 4] == cr && bytes[count - 3] == lf && bytes[count - 2] == cr
            && bytes[count - 1] == lf
    }

    /// Parses the field lines from `start` up to the blank line that ends the head (`end` is the
    /// index just past it), appending each to `fields`. Returns the bytes the fields take.
    static func parseFields(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, maximumFields: Int,
                            into fields: inout [HeaderField]) throws(HeadError) -> Int {
        var index = start
        let blankLine = end - 2
        while index < blankLine {
            let first = bytes[index]
            if first == space || first == tab { throw .malformed("obsolete line folding") }
            let nameStart = index
            while index < blankLine && isToken(bytes[index]) { index += 1 }
            guard index > nameStart, index < blankLine, bytes[index] == colon else {
                throw .malformed("malformed header field name")
            }
            let nameEnd = index
            index += 1
            while index < blankLine && (bytes[index] == space || bytes[index] == tab) { index += 1 }
            let valueStart = index
            // The line's CR (the blank line's at the latest) ends the value; the bytes before it
            // are checked in one branch-free pass, then trailing whitespace is trimmed.
            let lineEnd = bytes.baseAddress!.distance(
                to: UnsafeRawPointer(memchr(bytes.baseAddress! + index, Int32(cr), blankLine + 1 - index)!))
            var controls = false
            while index < lineEnd {
                let byte = bytes[index]
                controls = controls || ((byte < 0x20) && (byte != tab)) || (byte == 0x7F)
                index += 1
            }
            guard !controls else { throw .malformed("control character in a header value") }
            var valueEnd = lineEnd
            while valueEnd > valueStart && (bytes[valueEnd - 1] == space || bytes[valueEnd - 1] == tab) { valueEnd -= 1 }
            // `endOfHead` has seen every LF preceded by a CR; the CR must be followed by its LF.
            guard bytes[index + 1] == lf else { throw .malformed("bare CR in the head") }
            index += 2
            guard fields.count < maximumFields else {
                throw .fieldsTooLarge("more than \(maximumFields) header fields")
            }
            fields.append(HeaderField(nameStart: Int32(nameStart), nameEnd: Int32(nameEnd),
                                      valueStart: Int32(valueStart), valueEnd: Int32(valueEnd)))
        }
        return blankLine - start
    }

    /// Whether the bytes at `range` equal `lowercased` ignoring ASCII case. `lowercased` must be
    /// lower-case letters, digits and `-`, for which OR-ing 0x20 is a case fold.
    @inline(__always)
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                                   _ lowercased: StaticString) -> Bool {
        let length = lowercased.utf8CodeUnitCount
        guard end - start == length else { return false }
        let expected = lowercased.utf8Start
        for offset in 0..<length where bytes[start + offset] | 0x20 != expected[offset] {
            return false
        }
        return true
    }

    /// Calls `body` with each element of a comma-separated list value (RFC 9110 §5.6.1), trimmed
    /// of whitespace, as a range of `bytes`. Empty elements are skipped, as the RFC allows, or,
    /// with `refusingEmptyElements`, refused (`chunked,`, `, chunked`, `a,,b`): where a value
    /// decides the framing, a lenient reading of the list is one a backend may not share.
    static func forEachListElement(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                                   refusingEmptyElements: Bool = false,
                                   _ body: (Int, Int) throws(HeadError) -> Void) throws(HeadError) {
        var elementStart = start
        var index = start
        while index <= end {
            if index == end || bytes[index] == UInt8(ascii: ",") {
                var first = elementStart
                var last = index
                while first < last && (bytes[first] == space || bytes[first] == tab) { first += 1 }
                while last > first && (bytes[last - 1] == space || bytes[last - 1] == tab) { last -= 1 }
                if last > first {
                    try body(first, last)
                } else if refusingEmptyElements {
                    throw .malformed("empty element in a list that decides the framing")
                }
                elementStart = index + 1
            }
            index += 1
        }
    }

    /// Whether `bytes[start..<end]` is `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2):
    /// a non-empty reg-name or IPv4 address (unreserved, pct-encoded, sub-delims) or a bracketed
    /// IP literal, then at most one port of 1 to 5 digits up to 65535. No userinfo, no path, no
    /// whitespace: a Host a backend could read differently from us is refused.
    static func isValidAuthority(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        guard end > start else { return false }
        var index = start
        if bytes[index] == UInt8(ascii: "[") {
            index += 1
            let literalStart = index
            while index < end && bytes[index] != UInt8(ascii: "]") {
                let byte = bytes[index]
                guard isUnreserved(byte) || isSubDelimiter(byte) || byte == colon else { return false }
                index += 1
            }
            guard index < end, index > literalStart else { return false }
            index += 1
        } else {
            let hostStart = index
            while index < end && bytes[index] != colon {
                let byte = bytes[index]
                if byte == UInt8(ascii: "%") {
                    guard index + 2 < end, isHexDigit(bytes[index + 1]), isHexDigit(bytes[index + 2]) else { return false }
                    index += 3
                    continue
                }
                guard isUnreserved(byte) || isSubDelimiter(byte) else { return false }
                index += 1
            }
            guard index > hostStart else { return false }
        }
        guard index < end else { return true }
        guard bytes[index] == colon else { return false }
        index += 1
        guard end - index >= 1, end - index <= 5 else { return false }
        var port = 0
        for offset in index..<end {
            let digit = bytes[offset] &- UInt8(ascii: "0")
            guard digit < 10 else { return false }
            port = port * 10 + Int(digit)
        }
        return port <= 65_535
    }

    /// RFC 3986 `unreserved`: ALPHA / DIGIT / "-" / "." / "_" / "~".
    @inline(__always)
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// RFC 3986 `sub-delims`.
    @inline(__always)
    private static func isSubDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="):
            true
        default:
            false
        }
    }

    @inline(__always)
    static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
             UInt8(ascii: "A")...UInt8(ascii: "F"):
            true
        default:
            false
        }
    }

    /// The decimal value of a `Content-Length` (digits only, at most 18 of them), or nil.
    static func contentLength(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        guard end > start, end - start <= 18 else { return nil }
        var value = 0
        for index in start..<end {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int(digit)
        }
        return value
    }
}
