import NIOCore

/// Cuts one direction of an HTTP/1.1 connection into messages: a head, then the body's bytes as
/// they arrived (slices of the received buffers, not copies), then the end. The owner parses each
/// head (requests and responses differ) and tells the reader how the body is framed.
///
/// Bytes past the end of a message stay buffered until the owner asks for the next message, which
/// is how pipelined requests wait their turn and how bytes after an upgrade reach the tunnel.
struct MessageReader {
    enum Event {
        /// A complete head, from its first line through the blank line.
        case head(ByteBuffer)
        /// Body bytes: as on the wire, or only the payload when the owner asked for that.
        case body(ByteBuffer)
        case end
    }

    private enum State {
        /// Waiting for a head; `scanned` bytes of it were already searched for its end.
        case head(scanned: Int)
        /// A head was handed out; its framing has not been given yet.
        case awaitingFraming
        case body(BodyScanner, payloadOnly: Bool)
        /// The body ended; the end event is next.
        case ending
    }

    private var state = State.head(scanned: 0)
    private var buffer: ByteBuffer?
    /// Longest first line before the head is refused (414 for a request target).
    private var firstLineLimit: Int
    /// Longest head before it is refused (431).
    private var headLimit: Int

    init(firstLineLimit: Int, headLimit: Int) {
        self.firstLineLimit = firstLineLimit
        self.headLimit = headLimit
    }

    /// New limits for the heads read from now on (a reload's, between requests).
    mutating func setLimits(firstLineLimit: Int, headLimit: Int) {
        self.firstLineLimit = firstLineLimit
        self.headLimit = headLimit
    }

    /// The trailer section of the chunked body that ended last (its field lines, validated), or
    /// empty; read it at the `.end` event.
    private(set) var trailers: [UInt8] = []

    /// What `test` says of the bytes received and not yet handed out (false when there are none).
    func buffered(_ test: (ByteBuffer) -> Bool) -> Bool {
        buffer.map(test) ?? false
    }

    /// Bytes received and not yet handed out.
    var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    /// Whether the reader is between messages, with no byte of the next one received.
    var isIdle: Bool {
        if case .head = state { return bufferedBytes == 0 }
        return false
    }

    /// Whether a body that runs until the connection closes is being read.
    var readsUntilClose: Bool {
        if case .body(let scanner, _) = state { return scanner.endsAtClose }
        return false
    }

    mutating func append(_ bytes: ByteBuffer) {
        if var existing = buffer, existing.readableBytes > 0 {
            buffer = nil
            existing.writeImmutableBuffer(bytes)
            buffer = existing
        } else {
            buffer = bytes
        }
    }

    /// Sets how the body of the head just handed out is framed. `payloadOnly` strips the chunk
    /// framing from a chunked body.
    mutating func beginBody(_ framing: BodyFraming, maximumTrailerBytes: Int, payloadOnly: Bool = false) {
        state = .body(BodyScanner(framing, maximumTrailerBytes: maximumTrailerBytes), payloadOnly: payloadOnly)
        if !trailers.isEmpty { trailers = [] }
    }

    /// Everything buffered, handed over for good (the start of a tunnel).
    mutating func takeBuffered() -> ByteBuffer? {
        defer { buffer = nil }
        guard let buffer, buffer.readableBytes > 0 else { return nil }
        return buffer
    }

    /// The next event, or nil when more bytes are needed.
    mutating func next() throws(HeadError) -> Event? {
        switch state {
        case .head(let scanned):
            return try nextHead(scanned: scanned)
        case .awaitingFraming:
            return nil
        case .ending:
            state = .head(scanned: 0)
            return .end
        case .body(var scanner, let payloadOnly):
            guard var bytes = buffer, bytes.readableBytes > 0 else {
                if scanner.isComplete {
                    state = .head(scanned: 0)
                    return .end
                }
                return nil
            }
            if payloadOnly { return try nextPayload(scanner, bytes) }
            let consumed = try bytes.withUnsafeReadableBytes { raw throws(HeadError) in try scanner.scan(raw) }
            let slice = bytes.readSlice(length: consumed)!
            buffer = bytes
            state = scanner.isComplete ? ending(scanner) : .body(scanner, payloadOnly: false)
            return consumed > 0 ? .body(slice) : try next()
        }
    }

    /// The state after a body ended, keeping its trailers for the end event.
    private mutating func ending(_ scanner: BodyScanner) -> State {
        if !scanner.trailers.isEmpty { trailers = scanner.trailers }
        return .ending
    }

    private mutating func nextHead(scanned: Int) throws(HeadError) -> Event? {
        guard var bytes = buffer, bytes.readableBytes > 0 else { return nil }
        var scanned = scanned
        // RFC 9112 §2.2: empty lines before a request line are ignored. Looked for on every call,
        // not only the first: a CRLF can arrive split across reads ("\r", then "\n" and the
        // next request), and no head starts with one.
        while bytes.readableBytes >= 2, bytes.getInteger(at: bytes.readerIndex, as: UInt16.self) == 0x0D0A {
            bytes.moveReaderIndex(forwardBy: 2)
            buffer = bytes
            scanned = 0
        }
        let end = try bytes.withUnsafeReadableBytes { raw throws(HeadError) in
            try HeadSyntax.endOfHead(in: raw, from: max(0, scanned - 3))
        }
        guard let end else {
            try checkSize(bytes, headBytes: bytes.readableBytes)
            state = .head(scanned: bytes.readableBytes)
            return nil
        }
        try checkSize(bytes, headBytes: end)
        let head = bytes.readSlice(length: end)!
        buffer = bytes
        state = .awaitingFraming
        return .head(head)
    }

    /// Refuses a head that is `headBytes` long (so far) when it is over a limit. The first line is
    /// judged first, so a request line over its limit gets 414 however the bytes were split into
    /// reads, not 431 because one read happened to bring more than a whole head may have.
    private func checkSize(_ bytes: ByteBuffer, headBytes: Int) throws(HeadError) {
        if headBytes > firstLineLimit,
           bytes.readableBytesView.prefix(firstLineLimit + 1).firstIndex(of: HeadSyntax.lf) == nil {
            throw HeadError(kind: .targetTooLong, description: "request line longer than \(firstLineLimit) bytes")
        }
        if headBytes > headLimit { throw .fieldsTooLarge("head larger than \(headLimit) bytes") }
    }

    /// Payload-only reading (chunks unwrapped for an HTTP/1.0 client): the payload ranges of
    /// what is buffered, as one slice when there is one range and copied together otherwise.
    private mutating func nextPayload(_ scanner: BodyScanner, _ bytes: ByteBuffer) throws(HeadError) -> Event? {
        var scanner = scanner
        var bytes = bytes
        var ranges: [Range<Int>] = []
        let consumed = try bytes.withUnsafeReadableBytes { raw throws(HeadError) in
            try scanner.scan(raw) { ranges.append($0) }
        }
        let start = bytes.readerIndex
        let payload: ByteBuffer
        if ranges.count == 1 {
            payload = bytes.getSlice(at: start + ranges[0].lowerBound, length: ranges[0].count)!
        } else {
            var joined = ByteBufferAllocator().buffer(capacity: ranges.reduce(0) { $0 + $1.count })
            for range in ranges {
                joined.writeImmutableBuffer(bytes.getSlice(at: start + range.lowerBound, length: range.count)!)
            }
            payload = joined
        }
        bytes.moveReaderIndex(forwardBy: consumed)
        buffer = bytes
        state = scanner.isComplete ? ending(scanner) : .body(scanner, payloadOnly: true)
        return payload.readableBytes > 0 ? .body(payload) : try next()
    }
}
