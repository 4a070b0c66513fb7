import NIOCore
import Testing
@testable import LBServer

/// The byte-level HTTP/1.1 layer (Sources/LBServer/HTTP1) and the head rewriting built on it,
/// without sockets: heads, body framing, the incremental reader and forwarding, one by one.
@Suite struct HTTP1ParsingTests {
    /// The error `body` threw, if it was a `HeadError`.
    static func headError(_ body: () throws -> Void) -> HeadError? {
        do {
            try body()
            return nil
        } catch {
            return error as? HeadError
        }
    }

    static func request(_ text: String, limits: RequestHead.Limits = .init()) throws -> RequestHead {
        try RequestHead.parse(ByteBuffer(string: text), limits: limits)
    }

    static func response(_ text: String, requestWasHEAD: Bool = false) throws -> ResponseHead {
        try ResponseHead.parse(ByteBuffer(string: text), requestWasHEAD: requestWasHEAD)
    }

    /// The status a request head is refused with, or nil when it is accepted.
    static func refusalStatus(_ text: String, limits: RequestHead.Limits = .init()) -> Int? {
        headError { _ = try request(text, limits: limits) }?.status
    }
}

// MARK: - Grammar

extension HTTP1ParsingTests {
    @Suite struct Grammar {
        @Test func tokenBytesAreExactlyRFC9110Tchar() {
            let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
            for byte in UInt8.min...UInt8.max {
                #expect(HeadSyntax.isToken(byte) == tchar.contains(byte), "byte \(byte)")
            }
        }

        @Test func fieldValueBytesExcludeControlsButTab() {
            for byte in UInt8.min...UInt8.max {
                let allowed = byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
                #expect(HeadSyntax.isFieldValueByte(byte) == allowed, "byte \(byte)")
            }
        }
    }
}

// MARK: - Request heads

extension HTTP1ParsingTests {
    @Suite struct RequestHeads {
        @Test func theRequestLineGivesMethodTargetAndVersion() throws {
            let head = try request("POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n")
            #expect(head.method == "POST")
            #expect(head.target == "/a/b?c=d")
            #expect(head.minorVersion == 1)
            #expect(head.framing == .length(3))
            #expect(head.value(named: "HOST") == "example.com")
            #expect(!head.isHEAD)
            #expect(try request("HEAD / HTTP/1.0\r\n\r\n").minorVersion == 0)
            #expect(try request("HEAD / HTTP/1.0\r\n\r\n").isHEAD)
        }

        @Test func aRequestWithoutFramingFieldsHasNoBody() throws {
            #expect(try request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").framing == .none)
            #expect(try request("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").framing == .chunked)
        }

        @Test func http11IsKeptAliveUnlessTheClientSaysClose() throws {
            #expect(try request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").keepAlive)
            #expect(try !request("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keepAlive)
            #expect(try !request("GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keepAlive)
        }

        @Test func http10IsKeptAliveOnlyWhenAskedAndCloseWins() throws {
            #expect(try !request("GET / HTTP/1.0\r\n\r\n").keepAlive)
            #expect(try request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive)
            #expect(try !request("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keepAlive)
        }

        @Test func upgradeCountsOnlyWhenConnectionListsUpgrade() throws {
            #expect(try request("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n").upgrade == nil)
            #expect(try request("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade
                    == "websocket")
        }

        /// RFC 9110 §7.8: a server must ignore Upgrade in an HTTP/1.0 request.
        @Test func upgradeIsIgnoredInAnHTTP10Request() throws {
            #expect(try request("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade == nil)
        }

        @Test func expect100ContinueCountsOnlyOnHTTP11() throws {
            #expect(try request("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
            #expect(try !request("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
            #expect(try !request("POST / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\n").expectsContinue)
        }

        @Test func connectionListsOtherFieldNamesLowerCased() throws {
            let head = try request("GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Secret , keep-alive,,\tX-Other\r\nConnection: close\r\n\r\n")
            #expect(head.connectionOptions == ["x-secret", "x-other"])
            #expect(!head.keepAlive)
        }

        @Test func theClientsFirstRequestIdIsKept() throws {
            #expect(try request("GET / HTTP/1.1\r\nHost: x\r\nx-request-id: abc \r\nX-Request-Id: def\r\n\r\n").clientRequestID == "abc")
            #expect(try request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").clientRequestID == nil)
        }

        @Test func equalContentLengthsRepeatedAreRefusedToo() throws {
            #expect(refusalStatus("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n") == 400)
            #expect(refusalStatus("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n") == 400)
            #expect(try request("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  5 \r\n\r\n").framing == .length(5))
        }

        static let smuggling: [(name: String, head: String)] = [
            ("Content-Length with Transfer-Encoding",
             "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("Transfer-Encoding before Content-Length",
             "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            ("a coding after chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            ("an empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n"),
            ("chunked twice in one field", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            ("chunked twice in two fields",
             "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("differing Content-Lengths in two fields", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            ("differing Content-Lengths in a list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n"),
            ("a Content-Length with a letter", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5a\r\n\r\n"),
            ("a Content-Length with a sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"),
            ("a negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            ("a hexadecimal Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\n"),
            ("an empty Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n"),
            ("a Content-Length of 19 digits", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000\r\n\r\n"),
            ("Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            ("obsolete line folding", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n"),
            ("folding with a tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n"),
            ("a space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
            ("a field without a colon", "GET / HTTP/1.1\r\nHost\r\n\r\n"),
            ("a field without a name", "GET / HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n"),
            ("a bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
            ("a bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("a NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n"),
            ("a DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{7F}b\r\n\r\n"),
            ("a control character in the target", "GET /a\u{1}b HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("a tab in the target", "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("two spaces after the method", "GET  / HTTP/1.1\r\n\r\n"),
            ("a space after the version", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n"),
            ("no version", "GET /\r\n\r\n"),
            ("a lower-case version", "GET / http/1.1\r\n\r\n"),
            ("a version that is not digits", "GET / HTTP/1.x\r\n\r\n"),
            ("a version with two digits", "GET / HTTP/1.11\r\n\r\n"),
            ("a method that is not a token", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ]

        @Test func everySmugglingShapeIsRefusedWith400() {
            for (name, head) in Self.smuggling {
                #expect(refusalStatus(head) == 400, "\(name)")
            }
        }

        @Test func aWellFormedVersionOtherThan10Or11Gets505() {
            #expect(refusalStatus("GET / HTTP/2.0\r\n\r\n") == 505)
            #expect(refusalStatus("GET / HTTP/1.2\r\n\r\n") == 505)
            #expect(refusalStatus("GET / HTTP/0.9\r\n\r\n") == 505)
        }

        @Test func aTargetOverTheLimitGets414AndOneAtItPasses() {
            var limits = RequestHead.Limits()
            limits.targetBytes = 10
            #expect(refusalStatus("GET /123456789 HTTP/1.1\r\nHost: x\r\n\r\n", limits: limits) == nil)
            #expect(refusalStatus("GET /1234567890 HTTP/1.1\r\nHost: x\r\n\r\n", limits: limits) == 414)
        }

        @Test func tooManyFieldsOrTooManyFieldBytesGet431() {
            var limits = RequestHead.Limits()
            limits.fields = 3
            #expect(refusalStatus("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits) == nil)
            #expect(refusalStatus("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits) == 431)
            limits = RequestHead.Limits()
            limits.fieldBytes = 29  // "Host: x\r\n" is 9 bytes, "A: 1\r\n" 6
            #expect(refusalStatus("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits) == nil)
            #expect(refusalStatus("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: limits) == 431)
        }
    }
}

// MARK: - Response heads

extension HTTP1ParsingTests {
    @Suite struct ResponseHeads {
        static func statusText(_ head: ResponseHead) -> String {
            head.bytes.getString(at: head.bytes.readerIndex + head.statusTextStart,
                                 length: head.statusTextEnd - head.statusTextStart) ?? ""
        }

        @Test func theStatusLineGivesCodeReasonAndVersion() throws {
            let head = try response("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nX-Request-Id: r\r\n\r\n")
            #expect(head.status == 404)
            #expect(Self.statusText(head) == "404 Not Found")
            #expect(head.minorVersion == 0)
            #expect(head.hasRequestID)
            #expect(!head.keepAlive)
        }

        @Test func anEmptyReasonPhraseIsAccepted() throws {
            let withSpace = try response("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")
            #expect(withSpace.status == 200)
            #expect(Self.statusText(withSpace) == "200 ")
            let withoutSpace = try response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
            #expect(withoutSpace.status == 200)
            #expect(Self.statusText(withoutSpace) == "200")
        }

        @Test func malformedStatusLinesAreRefused() {
            for text in ["HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
                         "HTTP/1.1 200 O\u{1}K\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 200 OK\rX\r\n\r\n"] {
                #expect(headError { _ = try response(text) }?.status == 400, "\(text.debugDescription)")
            }
            #expect(headError { _ = try response("HTTP/2.0 200 OK\r\n\r\n") }?.status == 505)
        }

        @Test func responsesThatNeverHaveABodyHaveNoneWhateverTheirFields() throws {
            #expect(try response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", requestWasHEAD: true).framing == .none)
            #expect(try response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", requestWasHEAD: true).framing == .none)
            #expect(try response("HTTP/1.1 100 Continue\r\n\r\n").framing == .none)
            #expect(try response("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n").framing == .none)
            #expect(try response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").framing == .none)
            #expect(try response("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n").framing == .none)
            #expect(try response("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").framing == .none)
            #expect(try response("HTTP/1.1 204 No Content\r\n\r\n").keepAlive)
        }

        @Test func chunkedAndContentLengthFrameTheBody() throws {
            let chunked = try response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            #expect(chunked.framing == .chunked)
            #expect(chunked.keepAlive)
            let length = try response("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n")
            #expect(length.framing == .length(7))
            #expect(length.keepAlive)
        }

        @Test func aBodyWithoutFramingRunsUntilCloseAndEndsTheConnection() throws {
            let head = try response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            #expect(head.framing == .untilClose)
            #expect(!head.keepAlive)
            // RFC 9112 §6.3 rule 4: a response's Transfer-Encoding without chunked last also reads until close.
            let gzip = try response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
            #expect(gzip.framing == .untilClose)
            #expect(!gzip.keepAlive)
        }

        @Test func contentLengthWithTransferEncodingIsRefused() {
            let text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            #expect(headError { _ = try response(text) }?.status == 400)
        }

        /// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the
        /// connection is closed after it, whatever `Connection` says.
        @Test func anHTTP10ResponseWithTransferEncodingEndsTheConnection() throws {
            let head = try response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n")
            #expect(head.framing == .chunked)
            #expect(!head.keepAlive)
            #expect(try response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n").keepAlive)
        }

        @Test func upgradeAndConnectionOptionsAreRead() throws {
            let head = try response("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, X-Hop\r\nUpgrade: websocket\r\n\r\n")
            #expect(head.upgrade == "websocket")
            #expect(head.connectionOptions == ["x-hop"])
            #expect(!head.hasRequestID)
        }
    }
}

// MARK: - Body framing

extension HTTP1ParsingTests {
    @Suite struct BodyScanning {
        /// What scanning `parts` in turn with one scanner gave: the bytes of each part that
        /// belonged to the body, the payload, and whether the body was complete.
        struct Outcome: Equatable {
            var consumed: [Int] = []
            var payload: [UInt8] = []
            var complete = false
        }

        static func scan(_ parts: [[UInt8]], _ framing: BodyFraming, maximumTrailerBytes: Int = 1_024) throws -> Outcome {
            var scanner = BodyScanner(framing, maximumTrailerBytes: maximumTrailerBytes)
            var outcome = Outcome()
            for part in parts {
                let consumed = try part.withUnsafeBytes { raw in
                    try scanner.scan(raw) { range in outcome.payload.append(contentsOf: raw[range]) }
                }
                outcome.consumed.append(consumed)
            }
            outcome.complete = scanner.isComplete
            return outcome
        }

        static func scan(_ text: String, _ framing: BodyFraming = .chunked) throws -> Outcome {
            try scan([Array(text.utf8)], framing)
        }

        static func refusal(_ text: String, _ framing: BodyFraming = .chunked, maximumTrailerBytes: Int = 1_024) -> HeadError? {
            headError { _ = try scan([Array(text.utf8)], framing, maximumTrailerBytes: maximumTrailerBytes) }
        }

        /// `text`'s code points (all below 256) as one byte each.
        static func latin1(_ text: String) -> [UInt8] {
            text.unicodeScalars.map { UInt8($0.value) }
        }

        /// Three chunks, with extensions (one quoted, one after whitespace), and two trailer fields.
        static let chunkedBody = "5;name=value\r\nhello\r\n6 ; quoted=\"a b\"\r\n world\r\nA\r\n0123456789\r\n"
            + "0\r\nX-Checksum: abc\r\nY: z\r\n\r\n"
        static let payload = Array("hello world0123456789".utf8)

        @Test func aChunkedBodyWithExtensionsAndTrailersGivesItsPayload() throws {
            let outcome = try Self.scan(Self.chunkedBody)
            #expect(outcome == Outcome(consumed: [Self.chunkedBody.utf8.count], payload: Self.payload, complete: true))
        }

        @Test func bytesAfterTheEndOfTheBodyAreNotConsumed() throws {
            let next = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            #expect(try Self.scan(Self.chunkedBody + next).consumed == [Self.chunkedBody.utf8.count])
            #expect(try Self.scan("helloGET", .length(5)) == Outcome(consumed: [5], payload: Array("hello".utf8), complete: true))
            #expect(try Self.scan([Array("hel".utf8), Array("loGET".utf8)], .length(5)).consumed == [3, 2])
            #expect(try Self.scan("anything", .none) == Outcome(consumed: [0], payload: [], complete: true))
        }

        @Test func aBodyUntilCloseTakesEverythingAndNeverCompletes() throws {
            #expect(try Self.scan("0\r\n\r\nmore", .untilClose) == Outcome(consumed: [9], payload: Array("0\r\n\r\nmore".utf8)))
        }

        @Test func aChunkedBodySplitAtAnyByteGivesTheSameResult() throws {
            let body = Array(Self.chunkedBody.utf8)
            let wire = body + Array("GET".utf8)
            for split in 0...wire.count {
                let outcome = try Self.scan([Array(wire[..<split]), Array(wire[split...])], .chunked)
                #expect(outcome.consumed == [min(split, body.count), body.count - min(split, body.count)], "split at \(split)")
                #expect(outcome.payload == Self.payload, "split at \(split)")
                #expect(outcome.complete, "split at \(split)")
            }
        }

        @Test func aChunkedBodyFedOneByteAtATimeGivesTheSameResult() throws {
            let body = Array(Self.chunkedBody.utf8)
            let outcome = try Self.scan((body + Array("GET".utf8)).map { [$0] }, .chunked)
            #expect(outcome.consumed == Array(repeating: 1, count: body.count) + [0, 0, 0])
            #expect(outcome.payload == Self.payload)
            #expect(outcome.complete)
        }

        @Test func aChunkSizeOfMoreThan15HexDigitsIsRefused() throws {
            #expect(Self.refusal("1000000000000000\r\n")?.status == 400)
            // 15 digits is the most allowed: a size the scanner then waits on.
            #expect(try !Self.scan("fffffffffffffff\r\nabc").complete)
        }

        @Test func chunkDataNotFollowedByCRLFIsRefused() {
            #expect(Self.refusal("5\r\nhelloX\r\n0\r\n\r\n")?.status == 400)
            #expect(Self.refusal("5\r\nhello\rX0\r\n\r\n")?.status == 400)
            #expect(Self.refusal("5\r\nhello\n0\r\n\r\n")?.status == 400)
        }

        @Test func malformedChunkSizeLinesAreRefused() {
            for text in ["\r\nhello\r\n", "z\r\n", "-5\r\n", "5\nhello\r\n", "5\rhello\r\n", "5;a\u{1}b\r\n", "0x5\r\nhello\r\n"] {
                #expect(Self.refusal(text)?.status == 400, "\(text.debugDescription)")
            }
        }

        /// RFC 9112 §7.1.1: whitespace after a chunk size belongs to a chunk extension (its BWS),
        /// so a `;` must follow it; "5 CRLF" is not a chunk-size line.
        @Test func whitespaceAfterAChunkSizeMustLeadToAnExtension() throws {
            #expect(Self.refusal("5 \r\nhello\r\n0\r\n\r\n")?.status == 400)
            #expect(Self.refusal("5\t\r\nhello\r\n0\r\n\r\n")?.status == 400)
            #expect(Self.refusal("0 \r\n\r\n")?.status == 400)
            #expect(try Self.scan("5 \t;a=b\r\nhello\r\n0\r\n\r\n").payload == Array("hello".utf8))
        }

        /// RFC 9112 §7.1.1: an extension is `;` and a token name, maybe `=` and a token or a
        /// quoted string, with optional whitespace around `;` and `=`; nothing else on the line.
        @Test(arguments: [
            "5;a\r\n", "5;a=b\r\n", "5;a=b;c\r\n", "5 ; a = b ;c=\"d e\"\r\n", "5;a=\"\\\"q\\\\\"\r\n",
            "5;a=\"obs-text \u{80}\u{FF}\"\r\n", "5;!#$%&'*+-.^_`|~09az=!#$%&'*+-.^_`|~09AZ\r\n", "5\t;\ta\t=\tb\r\n",
        ])
        func wellFormedChunkExtensionsAreAccepted(_ line: String) throws {
            let outcome = try Self.scan([Self.latin1(line) + Array("hello\r\n0\r\n\r\n".utf8)], .chunked)
            #expect(outcome.payload == Array("hello".utf8))
            #expect(outcome.complete)
        }

        @Test(arguments: [
            "5;\r\n", "5; \r\n", "5;=b\r\n", "5;a=\r\n", "5;a b\r\n", "5;a=b c\r\n", "5;a=b \r\n",
            "5;a=\"b\" \r\n", "5;a=\"b\"c\r\n", "5;a=\"b\r\n", "5;a=\"b\rc\"\r\n", "5;a=\"b\\\u{1}\"\r\n",
            "5;a=b=c\r\n", "5;a@b\r\n", "5;\u{8F}\u{BA}\"a b\"\r\n", "5;a=\u{8F}\r\n", "5;a\u{7F}\r\n", "5 =a\r\n",
            "5;a==b\r\n", "5;;a\r\n",
        ])
        func malformedChunkExtensionsAreRefused(_ line: String) {
            let body = Self.latin1(line) + Array("hello\r\n0\r\n\r\n".utf8)
            #expect(headError { _ = try Self.scan([body], .chunked) }?.status == 400, "\(line.debugDescription)")
        }

        @Test func malformedOrOversizedTrailersAreRefused() {
            #expect(Self.refusal("0\r\n folded\r\n\r\n")?.status == 400)
            #expect(Self.refusal("0\r\nX: a\u{0}b\r\n\r\n")?.status == 400)
            #expect(Self.refusal("0\r\nX: a\rb\r\n\r\n")?.status == 400)
            #expect(Self.refusal("0\r\n\rX")?.status == 400)
            #expect(Self.refusal("0\r\nX-Long: 0123456789\r\n\r\n", maximumTrailerBytes: 10)?.status == 431)
        }
    }
}

// MARK: - Message reader

extension HTTP1ParsingTests {
    @Suite struct MessageReading {
        /// Takes every event out of `reader`, parsing each head as a request and framing its body:
        /// the events as text.
        static func drain(_ reader: inout MessageReader, payloadOnly: Bool = false) throws -> [String] {
            var events: [String] = []
            while let event = try reader.next() {
                switch event {
                case .head(let bytes):
                    let head = try RequestHead.parse(bytes, limits: .init())
                    reader.beginBody(head.framing, maximumTrailerBytes: 1_024, payloadOnly: payloadOnly)
                    events.append("head \(head.method) \(head.target)")
                case .body(let bytes):
                    events.append("body \(String(buffer: bytes))")
                case .end:
                    events.append("end")
                }
            }
            return events
        }

        static func reader(firstLineLimit: Int = 1_024, headLimit: Int = 4_096) -> MessageReader {
            MessageReader(firstLineLimit: firstLineLimit, headLimit: headLimit)
        }

        /// The status a reader refuses `text` with, read all at once, or nil when it is not refused.
        static func refusalStatus(reading text: String, firstLineLimit: Int = 1_024, headLimit: Int = 4_096) -> Int? {
            var reader = reader(firstLineLimit: firstLineLimit, headLimit: headLimit)
            reader.append(ByteBuffer(string: text))
            return headError { _ = try reader.next() }?.status
        }

        @Test func twoPipelinedRequestsInOneBufferComeOutInOrder() throws {
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
            #expect(try Self.drain(&reader) == ["head POST /a", "body hello", "end", "head GET /b", "end"])
            #expect(reader.isIdle)
        }

        @Test func theNextRequestWaitsUntilTheBodyIsFramed() throws {
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
            guard case .head? = try reader.next() else { Issue.record("no head"); return }
            #expect(try reader.next() == nil)
            reader.beginBody(.none, maximumTrailerBytes: 0)
            guard case .end? = try reader.next() else { Issue.record("no end"); return }
            #expect(try Self.drain(&reader) == ["head GET /b", "end"])
        }

        @Test func emptyLinesBeforeARequestLineAreIgnored() throws {
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"))
            #expect(try Self.drain(&reader) == ["head GET /", "end"])
        }

        /// RFC 9112 §2.2 holds however the reads fall: a client's stray CRLF after a body can
        /// arrive as "\r" in one read and "\n" with the next request in another.
        @Test func anEmptyLineSplitAcrossReadsIsIgnored() throws {
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\r"))
            #expect(try Self.drain(&reader) == ["head POST /a", "body hello", "end"])
            reader.append(ByteBuffer(string: "\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
            #expect(try Self.drain(&reader) == ["head GET /b", "end"])
        }

        @Test func aHeadTrickledByteByByteComesOutWhole() throws {
            let text = "GET /slow HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"
            var reader = Self.reader()
            for (offset, byte) in text.utf8.enumerated() {
                reader.append(ByteBuffer(bytes: [byte]))
                let event = try reader.next()
                if offset < text.utf8.count - 1 {
                    #expect(event == nil, "at \(offset)")
                } else if case .head(let head) = event {
                    #expect(String(buffer: head) == text)
                } else {
                    Issue.record("no head after the last byte")
                }
            }
        }

        @Test func aFirstLineOverTheLimitWithoutALineFeedGets414() throws {
            var reader = Self.reader(firstLineLimit: 32, headLimit: 4_096)
            reader.append(ByteBuffer(string: "GET /" + String(repeating: "a", count: 27)))
            #expect(try reader.next() == nil)  // 32 bytes: at the limit, still waiting
            reader.append(ByteBuffer(string: "a"))
            #expect(headError { _ = try reader.next() }?.status == 414)
        }

        /// However the reads fall, a request line over the limit gets 414, also when one read
        /// brings more than the whole head may have.
        @Test func aFirstLineOverBothLimitsInOneReadGets414() {
            let line = "GET /" + String(repeating: "a", count: 100)
            #expect(Self.refusalStatus(reading: line, firstLineLimit: 32, headLimit: 64) == 414)
            #expect(Self.refusalStatus(reading: line + " HTTP/1.1\r\n\r\n", firstLineLimit: 32, headLimit: 64) == 414)
        }

        @Test func aHeadOverTheHeadLimitGets431() {
            let start = "GET / HTTP/1.1\r\nHost: x\r\nX-A: "
            #expect(Self.refusalStatus(reading: start + String(repeating: "v", count: 60), firstLineLimit: 32, headLimit: 64)
                    == 431)
            #expect(Self.refusalStatus(reading: start + String(repeating: "v", count: 40) + "\r\n\r\n",
                                       firstLineLimit: 32, headLimit: 64) == 431)
        }

        @Test func aBareLineFeedInAHeadIsRefused() {
            #expect(Self.refusalStatus(reading: "GET / HTTP/1.1\nHost: x\r\n\r\n") == 400)
        }

        @Test func payloadOnlyReadingGivesTheChunksWithoutTheirFraming() throws {
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        + "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
            #expect(try Self.drain(&reader, payloadOnly: true)
                    == ["head POST /a", "body hello world", "end", "head GET /b", "end"])
        }

        @Test func payloadOnlyReadingWorksAcrossReads() throws {
            let wire = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            var reader = Self.reader()
            var payload = ""
            var ended = false
            for byte in wire.utf8 {
                reader.append(ByteBuffer(bytes: [byte]))
                for event in try Self.drain(&reader, payloadOnly: true) {
                    if event.hasPrefix("body ") { payload += event.dropFirst(5) }
                    if event == "end" { ended = true }
                }
            }
            #expect(payload == "hello world")
            #expect(ended)
        }

        @Test func aChunkedBodyIsForwardedAsItArrived() throws {
            let body = "5\r\nhello\r\n0\r\n\r\n"
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body))
            #expect(try Self.drain(&reader) == ["head POST /a", "body \(body)", "end"])
        }

        @Test func aMalformedChunkStopsTheReader() {
            var reader = Self.reader()
            reader.append(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
            #expect(headError { _ = try Self.drain(&reader) }?.status == 400)
        }
    }
}

// MARK: - Forwarding

extension HTTP1ParsingTests {
    @Suite struct Forwarding {
        static func forwarded(_ text: String, pathPrefix: String = "", requestID: String = "rid-1") throws -> String {
            let head = try request(text)
            var buffer = ByteBuffer()
            head.writeForwarded(into: &buffer, pathPrefix: pathPrefix, hostHeader: "backend.internal:9000",
                                clientAddress: "192.0.2.7", requestID: requestID,
                                upgrade: head.upgrade.flatMap { UpgradePolicy.permitted($0, allowed: ["websocket"]) })
            return String(buffer: buffer)
        }

        static func forwarded(response text: String, clientMinorVersion: Int = 1, keepAlive: Bool = true,
                              removeChunking: Bool = false, requestID: String = "rid-1") throws -> String {
            let head = try response(text)
            var buffer = ByteBuffer()
            head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: clientMinorVersion, keepAlive: keepAlive,
                                                              removeChunking: removeChunking, requestID: requestID))
            return String(buffer: buffer)
        }

        @Test func aForwardedRequestLosesHopByHopAndClientForwardingFields() throws {
            let text = "GET http://client.example:8080/path?q=1 HTTP/1.1\r\n"
                + "Host: client.example:8080\r\n"
                + "Connection: keep-alive, X-Secret, Content-Length, Host, Transfer-Encoding\r\n"
                + "Keep-Alive: timeout=5\r\n"
                + "TE: trailers\r\n"
                + "Trailer: X-Checksum\r\n"
                + "Upgrade: h2c\r\n"
                + "Proxy-Connection: keep-alive\r\n"
                + "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                + "Proxy-Authenticate: Basic\r\n"
                + "x-secret: s\r\n"
                + "Expect: 100-continue\r\n"
                + "X-Forwarded-Proto: https\r\n"
                + "X-Forwarded-Host: spoofed.example\r\n"
                + "X-Request-Id: client-chosen\r\n"
                + "X-Forwarded-For: 10.0.0.1\r\n"
                + "Accept: */*\r\n"
                + "x-forwarded-for:10.0.0.2, 10.0.0.3 \r\n"
                + "X-Forwarded-For: \r\n"
                + "Content-Length: 0\r\n\r\n"
            // The absolute form's authority stands in for Host (RFC 9112 §3.2.2).
            #expect(try Self.forwarded(text, pathPrefix: "/api") == "GET /api/path?q=1 HTTP/1.1\r\n"
                + "Accept: */*\r\n"
                + "Content-Length: 0\r\n"
                + "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n"
                + "X-Forwarded-Proto: http\r\n"
                + "Host: client.example:8080\r\n"
                + "X-Forwarded-Host: client.example:8080\r\n"
                + "X-Request-Id: rid-1\r\n\r\n")
        }

        @Test func connectionCannotDropTheFramingOfARequest() throws {
            let text = "POST /u HTTP/1.1\r\nHost: h\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
            #expect(try Self.forwarded(text) == "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-Id: rid-1\r\n\r\n")
        }

        @Test func aRequestWithoutHostGetsTheBackendsAndHTTP11() throws {
            #expect(try Self.forwarded("GET /p HTTP/1.0\r\nAccept: */*\r\n\r\n") == "GET /p HTTP/1.1\r\nAccept: */*\r\n"
                + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nHost: backend.internal:9000\r\nX-Request-Id: rid-1\r\n\r\n")
        }

        @Test func anUpgradeIsAskedForAgainOnTheBackendHop() throws {
            let text = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n"
            #expect(try Self.forwarded(text) == "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\n"
                + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-Id: rid-1\r\n"
                + "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        }

        @Test func theAsteriskTargetKeepsItsFormAndGetsNoPathPrefix() throws {
            let forwarded = try Self.forwarded("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", pathPrefix: "/api")
            #expect(forwarded.hasPrefix("OPTIONS * HTTP/1.1\r\n"))
        }

        @Test func anAbsoluteFormTargetBecomesOriginFormUnderThePathPrefix() throws {
            #expect(RequestHead.originForm(of: "http://a.example") == "/")
            #expect(RequestHead.originForm(of: "http://a.example?x=1") == "/?x=1")
            #expect(RequestHead.originForm(of: "https://a.example:8443/p/q?x") == "/p/q?x")
            #expect(RequestHead.originForm(of: "/already") == "/already")
            #expect(try Self.forwarded("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", pathPrefix: "/api")
                .hasPrefix("GET /api/ HTTP/1.1\r\n"))
            #expect(try Self.forwarded("GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n", pathPrefix: "/api").hasPrefix("GET /api/x?y HTTP/1.1\r\n"))
        }

        static let chunkedResponse = "HTTP/1.1 200 OK\r\n"
            + "Connection: keep-alive, X-Backend-Secret, Transfer-Encoding\r\n"
            + "Keep-Alive: timeout=5\r\n"
            + "X-Backend-Secret: s\r\n"
            + "Proxy-Connection: x\r\n"
            + "Proxy-Authenticate: Basic\r\n"
            + "Trailer: X-Checksum\r\n"
            + "Upgrade: h2c\r\n"
            + "TE: trailers\r\n"
            + "Content-Type: text/plain\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"

        @Test func aForwardedResponseLosesHopByHopFieldsAndKeepsItsFraming() throws {
            #expect(try Self.forwarded(response: Self.chunkedResponse) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + "Transfer-Encoding: chunked\r\nX-Request-Id: rid-1\r\n\r\n")
        }

        @Test func anUnwrappedChunkedResponseLosesTransferEncodingAndCloses() throws {
            #expect(try Self.forwarded(response: Self.chunkedResponse, clientMinorVersion: 0, keepAlive: false,
                                       removeChunking: true)
                    == "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nX-Request-Id: rid-1\r\n\r\n")
        }

        @Test func theStatusLineTakesTheClientsVersion() throws {
            #expect(try Self.forwarded(response: "HTTP/1.0 204 No Content\r\n\r\n")
                    == "HTTP/1.1 204 No Content\r\nX-Request-Id: rid-1\r\n\r\n")
            #expect(try Self.forwarded(response: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n", clientMinorVersion: 0)
                    == "HTTP/1.0 200\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Request-Id: rid-1\r\n\r\n")
        }

        @Test func connectionCloseIsAddedOnlyWhenTheClientConnectionEnds() throws {
            let text = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            #expect(try Self.forwarded(response: text, keepAlive: false)
                    == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nX-Request-Id: rid-1\r\n\r\n")
            #expect(try Self.forwarded(response: text, keepAlive: true)
                    == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: rid-1\r\n\r\n")
        }

        @Test func theBackendsRequestIdIsKept() throws {
            #expect(try Self.forwarded(response: "HTTP/1.1 404 Not Found\r\nx-request-id: backend-id\r\nContent-Length: 0\r\n\r\n")
                    == "HTTP/1.1 404 Not Found\r\nx-request-id: backend-id\r\nContent-Length: 0\r\n\r\n")
        }

        @Test func aSwitchingProtocolsResponseNamesTheUpgradeAgain() throws {
            let text = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a\r\n\r\n"
            #expect(try Self.forwarded(response: text) == "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: a\r\n"
                + "Connection: upgrade\r\nUpgrade: websocket\r\nX-Request-Id: rid-1\r\n\r\n")
        }
    }
}
