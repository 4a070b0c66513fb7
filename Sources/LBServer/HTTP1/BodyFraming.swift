/// How a message's body is delimited on the wire (RFC 9112 §6).
enum BodyFraming: Equatable {
    /// No body at all (a request without framing headers, a response to HEAD, 1xx, 204, 304).
    case none
    /// Exactly this many bytes.
    case length(Int)
    /// Chunked transfer coding, ending with the last chunk and its trailer section.
    case chunked
    /// Everything until the connection closes (a response without framing headers).
    case untilClose
}

/// Follows a body through its framing, a few bytes at a time, to find where the message ends
/// and, for a chunked body, which bytes are payload. The bytes themselves are forwarded as they
/// arrived; only a client that cannot take chunks gets the payload alone.
///
/// The chunk grammar is RFC 9112 §7.1, strictly: hex sizes of at most 15 digits, CRLF line ends,
/// extensions as §7.1.1 writes them (`BWS ";" BWS name [BWS "=" BWS value]`, a token name, a
/// token or quoted-string value) within `maximumExtensionBytes` per chunk,
/// and a trailer section within `maximumTrailerBytes` whose every line is a well-formed field
/// (the same grammar as a head's fields): a request line hidden there is refused, not passed on.
struct BodyScanner {
    private enum State {
        case length(remaining: Int)
        case untilClose
        case chunkSize(value: Int, digits: Int)
        /// After the size's digits, up to the CR that ends the size line.
        case chunkExtension(ChunkExtension)
        case chunkSizeLF
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case finalLF
        case done
    }

    private var state: State
    private let maximumTrailerBytes: Int
    /// Bytes of the current chunk's extension (after the size, up to its CR).
    private var extensionBytes = 0
    /// The trailer section's field lines as received (CRLF included), once its first byte came.
    private(set) var trailers: [UInt8] = []

    /// The most bytes one chunk's extension may take; the proxy drops extensions, so this only
    /// bounds the work a client can make it do.
    static let maximumExtensionBytes = 4_096

    init(_ framing: BodyFraming, maximumTrailerBytes: Int = 32 * 1024) {
        self.maximumTrailerBytes = maximumTrailerBytes
        switch framing {
        case .none: state = .done
        case .length(let length): state = length == 0 ? .done : .length(remaining: length)
        case .chunked: state = .chunkSize(value: 0, digits: 0)
        case .untilClose: state = .untilClose
        }
    }

    /// Whether the whole body has been seen.
    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Whether the body runs until the connection closes.
    var endsAtClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// Consumes bytes of the body from the start of `bytes` and returns how many belong to it
    /// (fewer than all only when the body ended inside them). `payload` receives, in order, the
    /// ranges of `bytes` that are body content rather than chunk framing.
    mutating func scan(_ bytes: UnsafeRawBufferPointer,
                       payload: (Range<Int>) -> Void = { _ in }) throws(HeadError) -> Int {
        var index = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .done:
                return index
            case .untilClose:
                payload(index..<count)
                return count
            case .length(let remaining):
                let take = min(remaining, count - index)
                payload(index..<index + take)
                index += take
                state = take == remaining ? .done : .length(remaining: remaining - take)
            case .chunkData(let remaining):
                let take = min(remaining, count - index)
                payload(index..<index + take)
                index += take
                state = take == remaining ? .chunkDataCR : .chunkData(remaining: remaining - take)
            case .chunkSize(let value, let digits):
                let byte = bytes[index]
                index += 1
                if let digit = Self.hexValue(byte) {
                    guard digits < 15 else { throw .malformed("chunk size too large") }
                    state = .chunkSize(value: value << 4 | digit, digits: digits + 1)
                    continue
                }
                guard digits > 0 else { throw .malformed("malformed chunk size") }
                pendingSize = value
                try endChunkSize(at: byte)
            case .chunkExtension(let place):
                let byte = bytes[index]
                index += 1
                if byte == HeadSyntax.cr {
                    guard place.mayEndLine else { throw .malformed("malformed chunk extension") }
                    state = .chunkSizeLF
                } else {
                    try countExtensionByte()
                    state = .chunkExtension(try place.next(byte))
                }
            case .chunkSizeLF:
                guard bytes[index] == HeadSyntax.lf else { throw .malformed("bare CR after a chunk size") }
                index += 1
                extensionBytes = 0
                state = pendingSize == 0 ? .trailerLineStart : .chunkData(remaining: pendingSize)
            case .chunkDataCR:
                guard bytes[index] == HeadSyntax.cr else { throw .malformed("chunk data longer than its size") }
                index += 1
                state = .chunkDataLF
            case .chunkDataLF:
                guard bytes[index] == HeadSyntax.lf else { throw .malformed("bare CR after chunk data") }
                index += 1
                state = .chunkSize(value: 0, digits: 0)
            case .trailerLineStart:
                let byte = bytes[index]
                index += 1
                if byte == HeadSyntax.cr {
                    state = .finalLF
                } else {
                    guard HeadSyntax.isToken(byte) else { throw .malformed("malformed trailer field") }
                    try appendTrailerByte(byte)
                    state = .trailerLine
                }
            case .trailerLine:
                let byte = bytes[index]
                index += 1
                try appendTrailerByte(byte)
                if byte == HeadSyntax.cr {
                    state = .trailerLF
                } else {
                    guard HeadSyntax.isFieldValueByte(byte) else { throw .malformed("control character in a trailer") }
                }
            case .trailerLF:
                guard bytes[index] == HeadSyntax.lf else { throw .malformed("bare CR in a trailer") }
                try appendTrailerByte(HeadSyntax.lf)
                index += 1
                state = .trailerLineStart
            case .finalLF:
                guard bytes[index] == HeadSyntax.lf else { throw .malformed("bare CR after the last chunk") }
                index += 1
                if !trailers.isEmpty { try Self.checkTrailerFields(trailers) }
                state = .done
            }
        }
        return index
    }

    /// The size of the chunk whose size line is being read (its extension may follow the size).
    private var pendingSize = 0

    /// After the size's digits: a CR ends the line; anything else must begin an extension.
    private mutating func endChunkSize(at byte: UInt8) throws(HeadError) {
        if byte == HeadSyntax.cr {
            state = .chunkSizeLF
            return
        }
        // The extension's bound counts from its `;` or the whitespace before it.
        try countExtensionByte()
        switch byte {
        case UInt8(ascii: ";"), HeadSyntax.space, HeadSyntax.tab:
            state = .chunkExtension(try ChunkExtension.afterSize.next(byte))
        default:
            throw .malformed("malformed chunk size")
        }
    }

    private mutating func appendTrailerByte(_ byte: UInt8) throws(HeadError) {
        guard trailers.count < maximumTrailerBytes else { throw .fieldsTooLarge("trailer section too large") }
        trailers.append(byte)
    }

    private mutating func countExtensionByte() throws(HeadError) {
        extensionBytes += 1
        if extensionBytes > Self.maximumExtensionBytes {
            throw .malformed("chunk extension longer than \(Self.maximumExtensionBytes) bytes")
        }
    }

    /// Holds the trailer section to a head's field grammar: no space before a colon, a colon on
    /// every line, no folding.
    private static func checkTrailerFields(_ section: [UInt8]) throws(HeadError) {
        _ = try trailerFields(section) { _, _ in }
    }

    /// Parses a trailer section as `BodyScanner` keeps it (field lines, CRLF included) with the
    /// head's field grammar, and calls `body` with the section's bytes and each field.
    static func trailerFields(_ section: [UInt8],
                              _ body: (UnsafeRawBufferPointer, HeaderField) -> Void) throws(HeadError) {
        var fields: [HeaderField] = []
        let withBlankLine = section + [HeadSyntax.cr, HeadSyntax.lf]
        var refusal: HeadError?
        withBlankLine.withUnsafeBytes { raw in
            do throws(HeadError) {
                _ = try HeadSyntax.parseFields(raw, from: 0, to: raw.count, maximumFields: Int.max, into: &fields)
                for field in fields { body(raw, field) }
            } catch {
                refusal = error
            }
        }
        if let refusal { throw refusal }
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
