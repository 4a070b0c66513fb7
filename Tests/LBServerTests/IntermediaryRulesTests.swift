import NIOCore
import Testing
@testable import LBServer

/// What the proxy accepts from a client and what it hands a backend, as plain values: the
/// Transfer-Encoding, Host and target rules, the canonical framing of a forwarded request, the
/// trailer section, the upgrade allow-list and the guard on traffic mark-downs.
@Suite struct IntermediaryRulesTests {
    typealias Parsing = HTTP1ParsingTests

    // MARK: Transfer-Encoding

    @Test func onlyExactlyOneChunkedIsAcceptedAsATransferEncoding() throws {
        #expect(try Parsing.request("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  CHUNKED \r\n\r\n").framing == .chunked)
        let refused: [(String, Int)] = [
            ("chunked,", 400), (", chunked", 400), ("chunked,,", 400), ("chunked, chunked", 400), ("chunked, gzip", 400),
            ("identity, chunked", 501), ("gzip, chunked", 501), ("identity", 501), ("gzip", 501), ("", 400),
        ]
        for (value, status) in refused {
            #expect(Parsing.refusalStatus("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(value)\r\n\r\n") == status,
                    "Transfer-Encoding: \(value)")
        }
        #expect(Parsing.refusalStatus(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n") == 400)
        #expect(Parsing.refusalStatus(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n") == 400)
    }

    @Test func aResponseMayListOtherCodingsButNoEmptyElement() throws {
        #expect(try Parsing.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").framing == .chunked)
        #expect(Parsing.headError { _ = try Parsing.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n") } != nil)
    }

    // MARK: Host and the target

    @Test func anHTTP11RequestNeedsExactlyOneValidHost() throws {
        #expect(Parsing.refusalStatus("GET / HTTP/1.1\r\n\r\n") == 400)
        #expect(try Parsing.request("GET / HTTP/1.0\r\n\r\n").hasHost == false)
        for valid in ["example.com", "example.com:8080", "127.0.0.1", "[::1]", "[::1]:80", "a-b.c_d~e", "%41bc", "x:1"] {
            #expect(Parsing.refusalStatus("GET / HTTP/1.1\r\nHost: \(valid)\r\n\r\n") == nil, "Host: \(valid)")
        }
        for invalid in ["", "a b", "x/y", "x:port", "user@x", "x:", ":80", "x:65536", "x:123456", "[::1", "[]", "%4",
                        "x?y", "x#y", "[::1]x", "x:80:80", "\"x\""] {
            #expect(Parsing.refusalStatus("GET / HTTP/1.1\r\nHost: \(invalid)\r\n\r\n") == 400, "Host: \(invalid)")
        }
        #expect(Parsing.refusalStatus("GET / HTTP/1.0\r\nHost: a b\r\n\r\n") == 400)
    }

    @Test func theTargetIsOriginFormAbsoluteHTTPOrAnAsteriskForOptions() throws {
        #expect(try Parsing.request("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").targetForm == .asterisk)
        #expect(Parsing.refusalStatus("GET * HTTP/1.1\r\nHost: x\r\n\r\n") == 400)
        let absolute = try Parsing.request("GET HTTP://Example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n")
        #expect(absolute.targetAuthority == "Example.com:81")
        #expect(try Parsing.request("GET https://a.example?q HTTP/1.1\r\nHost: x\r\n\r\n").targetAuthority == "a.example")
        for target in ["p", "ftp://x/", "http:/x", "http://", "http://user@x/", "http://a b/", "x:80", "http://x:y/"] {
            #expect(Parsing.refusalStatus("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n") == 400, "target \(target)")
        }
    }

    /// Found by the relay fuzzer: raw UTF-8 in a target reached a backend whose parser refused it.
    @Test func aTargetIsASCIIOnly() {
        #expect(Parsing.refusalStatus("GET /caf\u{E9} HTTP/1.1\r\nHost: x\r\n\r\n") == 400)
        #expect(Parsing.refusalStatus("GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n") == nil)
    }

    @Test func connectIsNotImplemented() {
        #expect(Parsing.refusalStatus("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") == 501)
    }

    @Test func anIdempotencyKeyMakesARequestRepeatable() throws {
        #expect(try !Parsing.request("POST / HTTP/1.1\r\nHost: x\r\n\r\n").isRepeatable)
        #expect(try Parsing.request("POST / HTTP/1.1\r\nHost: x\r\nIdempotency-Key: \"8e03978e\"\r\n\r\n").isRepeatable)
        #expect(try Parsing.request("PUT / HTTP/1.1\r\nHost: x\r\n\r\n").isRepeatable)
    }

    // MARK: Canonical forwarding

    @Test func theBackendGetsOneContentLengthOfOursNeverTheClientsLines() throws {
        let forwarded = try Parsing.Forwarding.forwarded(
            "POST /u HTTP/1.1\r\nHost: h\r\ncontent-length:\t5 \r\n\r\n")
        #expect(forwarded == "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-Id: rid-1\r\n\r\n")
    }

    @Test func theBackendGetsOneTransferEncodingChunkedOfOurs() throws {
        let forwarded = try Parsing.Forwarding.forwarded("POST /u HTTP/1.1\r\ntransfer-encoding:\tChunked \r\nHost: h\r\n\r\n")
        #expect(forwarded == "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-Id: rid-1\r\n\r\n")
    }

    @Test func anAbsoluteFormTargetsAuthorityReplacesTheHostField() throws {
        let forwarded = try Parsing.Forwarding.forwarded("GET http://a.example:81/p?q HTTP/1.1\r\nHost: spoofed\r\n\r\n")
        #expect(forwarded == "GET /p?q HTTP/1.1\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
            + "Host: a.example:81\r\nX-Forwarded-Host: a.example:81\r\nX-Request-Id: rid-1\r\n\r\n")
    }

    @Test func aRefusedUpgradeIsForwardedAsAPlainRequest() throws {
        let forwarded = try Parsing.Forwarding.forwarded(
            "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        #expect(forwarded == "GET / HTTP/1.1\r\nHost: h\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-Id: rid-1\r\n\r\n")
    }

    // MARK: Chunked bodies and trailers

    @Test func aRequestLineHiddenInTheTrailerSectionIsRefused() {
        let wire = Array("5\r\nhello\r\n0\r\nGET /r/slow?SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        #expect(Parsing.headError { _ = try Parsing.BodyScanning.scan([wire], .chunked) }?.status == 400)
        for trailer in ["X-A : 1", "X-A", ": v", "X-A: 1\r\n folded"] {
            let bytes = Array("0\r\n\(trailer)\r\n\r\n".utf8)
            #expect(Parsing.headError { _ = try Parsing.BodyScanning.scan([bytes], .chunked) }?.status == 400, "\(trailer)")
        }
    }

    @Test func wellFormedTrailersAreKeptAndTheForwardedOnesLoseWhatMustNotTravelInTrailers() throws {
        var scanner = BodyScanner(.chunked)
        let wire = Array("0\r\nX-Checksum: abc\r\nContent-Length: 5\r\nHost: evil\r\nX-Other:v2 \r\n\r\n".utf8)
        _ = try wire.withUnsafeBytes { raw in try scanner.scan(raw) }
        #expect(scanner.isComplete)
        #expect(String(decoding: ChunkedRequestBody.forwardedTrailers(scanner.trailers), as: UTF8.self)
                == "X-Checksum: abc\r\nX-Other: v2\r\n")
    }

    @Test func aChunkExtensionIsBounded() throws {
        let limit = BodyScanner.maximumExtensionBytes
        let atLimit = Array("1;\(String(repeating: "e", count: limit - 1))\r\nx\r\n0\r\n\r\n".utf8)
        #expect(try Parsing.BodyScanning.scan([atLimit], .chunked).complete)
        let overLimit = Array("1;\(String(repeating: "e", count: limit))\r\nx\r\n0\r\n\r\n".utf8)
        #expect(Parsing.headError { _ = try Parsing.BodyScanning.scan([overLimit], .chunked) }?.status == 400)
    }

    @Test func theProxysChunksCarryThePayloadAndTheLastChunkTheTrailers() {
        let allocator = ByteBufferAllocator()
        #expect(String(buffer: ChunkedRequestBody.chunk(ByteBuffer(string: String(repeating: "a", count: 26)),
                                                        allocator: allocator))
                == "1a\r\n" + String(repeating: "a", count: 26) + "\r\n")
        #expect(String(buffer: ChunkedRequestBody.lastChunk(trailers: Array("X-A: 1\r\n".utf8), allocator: allocator))
                == "0\r\nX-A: 1\r\n\r\n")
        #expect(String(buffer: ChunkedRequestBody.lastChunk(trailers: [], allocator: allocator)) == "0\r\n\r\n")
    }

    // MARK: Upgrades

    @Test func onlyAllowedProtocolsAreOfferedOnAndH2CNever() {
        #expect(UpgradePolicy.permitted("websocket", allowed: ["websocket"]) == "websocket")
        #expect(UpgradePolicy.permitted("h2c", allowed: ["websocket", "h2c"]) == nil)
        #expect(UpgradePolicy.permitted("foo/2, WebSocket", allowed: ["websocket"]) == "WebSocket")
        #expect(UpgradePolicy.permitted("websocket", allowed: []) == nil)
        #expect(UpgradePolicy.accepts("websocket", offered: "WebSocket"))
        #expect(!UpgradePolicy.accepts("h2c", offered: "websocket"))
        #expect(!UpgradePolicy.accepts(nil, offered: "websocket"))
    }

    @Test func theAllowListRefusesH2CAndNamesThatAreNotTokens() throws {
        #expect(try UpgradePolicy.allowedList(parsing: "WebSocket, foo").get() == ["websocket", "foo"])
        #expect(try UpgradePolicy.allowedList(parsing: "none").get() == [])
        #expect(throws: UpgradePolicy.ListError.self) { try UpgradePolicy.allowedList(parsing: "websocket,h2c").get() }
        #expect(throws: UpgradePolicy.ListError.self) { try UpgradePolicy.allowedList(parsing: "web socket").get() }
        #expect(throws: UpgradePolicy.ListError.self) { try UpgradePolicy.allowedList(parsing: "websocket,").get() }
    }

    // MARK: Traffic mark-downs

    @Test func trafficMarksDownAtMostHalfTheEnabledBackendsPerWindow() {
        let guardian = TrafficMarkDownGuard(window: .seconds(2))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(!guardian.admit(1, enabledBackends: 1, now: start))
        #expect(guardian.admit(1, enabledBackends: 4, now: start))
        #expect(guardian.admit(2, enabledBackends: 4, now: start + .milliseconds(500)))
        #expect(!guardian.admit(3, enabledBackends: 4, now: start + .milliseconds(1_000)))
        // The first mark-down leaves the window: room for one more.
        #expect(guardian.admit(3, enabledBackends: 4, now: start + .milliseconds(2_000)))
        #expect(!guardian.admit(4, enabledBackends: 4, now: start + .milliseconds(2_100)))
        guardian.release(3)
        #expect(guardian.admit(4, enabledBackends: 4, now: start + .milliseconds(2_100)))
    }
}
