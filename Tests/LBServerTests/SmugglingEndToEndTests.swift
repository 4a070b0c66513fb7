import Foundation
@testable import LBFuzz
@testable import LBServer
import Testing

/// Request smuggling, end to end, in front of a backend whose parser is simpler than RFC 9112
/// (`NaiveBackend`): framing the proxy refuses never reaches it, framing the proxy accepts reaches
/// it as exactly one canonical request, and a second client served over the same pooled backend
/// connection (`--threads 1`: one loop, one pool) always gets its own answer.
@Suite(.serialized) struct SmugglingEndToEndTests {
    /// A request the proxy must refuse with `status`, its bytes as sent.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: String
        let status: Int
        var testDescription: String { name }
    }

    /// What a smuggled request looks like: slow to answer, so its late answer would land on the
    /// next exchange of the pooled connection.
    static let smuggled = "GET /r/slow?SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"

    static let post = "POST /a HTTP/1.1\r\nHost: x\r\n"

    static let refusals: [Refusal] = [
        Refusal(name: "a trailer section holding a request line",
                bytes: post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding: chunked, (trailing comma)",
                bytes: post + "Transfer-Encoding: chunked,\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding: , chunked (leading comma)",
                bytes: post + "Transfer-Encoding: , chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "two Transfer-Encoding: chunked fields",
                bytes: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding: identity then Transfer-Encoding: chunked",
                bytes: post + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding: chunked, chunked",
                bytes: post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        // A backend that honours only an exact `chunked` reads no body and takes the chunk-size
        // line's payload for its next request.
        Refusal(name: "Transfer-Encoding: identity, chunked with a crafted chunk-size line",
                bytes: post + "Transfer-Encoding: identity, chunked\r\n\r\n" + String(smuggled.utf8.count, radix: 16) + "\r\n"
                    + smuggled + "\r\n0\r\n\r\n",
                status: 501),
        Refusal(name: "Transfer-Encoding: gzip, chunked",
                bytes: post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501),
        Refusal(name: "Transfer-Encoding: identity",
                bytes: post + "Transfer-Encoding: identity\r\n\r\n" + smuggled, status: 501),
        Refusal(name: "Transfer-Encoding: chunked with Content-Length",
                bytes: post + "Content-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding : chunked (space before the colon)",
                bytes: post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding with a vertical tab",
                bytes: post + "Transfer-Encoding: \u{0B}chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding folded onto a second line",
                bytes: post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "a chunk extension hiding a bare CR and a request",
                bytes: post + "Transfer-Encoding: chunked\r\n\r\n5;x=\"\r" + smuggled + "\"\r\nhello\r\n0\r\n\r\n", status: 400),
        Refusal(name: "a chunk extension hiding a bare LF and a request",
                bytes: post + "Transfer-Encoding: chunked\r\n\r\n5;x\n" + smuggled + "hello\r\n0\r\n\r\n", status: 400),
        Refusal(name: "a 0x-prefixed chunk size",
                bytes: post + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + smuggled, status: 400),
        Refusal(name: "a chunk size too large for any integer",
                bytes: post + "Transfer-Encoding: chunked\r\n\r\n" + String(repeating: "f", count: 20) + "\r\nhello\r\n0\r\n\r\n",
                status: 400),
        Refusal(name: "Content-Length: 5, 6",
                bytes: post + "Content-Length: 5, 6\r\n\r\nhello!" + smuggled, status: 400),
        Refusal(name: "Transfer-Encoding in an HTTP/1.0 request",
                bytes: "POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        Refusal(name: "a request pipelined behind a refused one",
                bytes: post + "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\nGET /behind HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        Refusal(name: "HTTP/1.1 without Host", bytes: "GET /p HTTP/1.1\r\n\r\n", status: 400),
        Refusal(name: "two Host fields", bytes: "GET /p HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", status: 400),
        Refusal(name: "Host: a b", bytes: "GET /p HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400),
        Refusal(name: "Host: x/y", bytes: "GET /p HTTP/1.1\r\nHost: x/y\r\n\r\n", status: 400),
        Refusal(name: "Host: x:port", bytes: "GET /p HTTP/1.1\r\nHost: x:port\r\n\r\n", status: 400),
        Refusal(name: "Host: user@x", bytes: "GET /p HTTP/1.1\r\nHost: user@x\r\n\r\n", status: 400),
        Refusal(name: "an empty Host", bytes: "GET /p HTTP/1.1\r\nHost:\r\n\r\n", status: 400),
        Refusal(name: "* with GET", bytes: "GET * HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
        Refusal(name: "CONNECT", bytes: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: 501),
        Refusal(name: "an origin-form target not starting with /", bytes: "GET abc HTTP/1.1\r\nHost: x\r\n\r\n", status: 400),
    ]

    @Test(arguments: refusals)
    func aRefusedFramingNeverReachesTheNaiveBackendAndTheNextClientGetsItsOwnAnswer(_ refusal: Refusal) throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        // One idle connection in the pool first, so the attack and the victim share it.
        #expect(try fixture.exchange("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n").text == "seen: GET /warm body-bytes=0")

        let attacker = try HTTPTestConnection(port: fixture.port, timeoutSeconds: 3)
        try attacker.send(refusal.bytes)
        let response = try attacker.readResponse(method: "POST")
        #expect(response.status == refusal.status, "\(refusal.name): got \(response.status) \(response.text)")
        #expect(response.header("connection")?.lowercased() == "close", "\(refusal.name)")
        // At once, while a smuggled slow request would still be pending on the pooled connection.
        try fixture.expectVictimGetsItsOwnAnswer()
        #expect(attacker.isClosedByPeer(), "\(refusal.name): connection left open")
        #expect(try fixture.targetsSeenAfterSettling() == ["/warm", "/victim"], "\(refusal.name)")
    }

    @Test func theTrailerSmugglingExampleGivesTheNextClientNobodyElsesAnswer() throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        #expect(try fixture.exchange("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n").status == 200)
        // The victims ask at once after the attacker's answer, while a smuggled slow request would
        // still be pending on the pooled connection.
        let attacker = try HTTPTestConnection(port: fixture.port, timeoutSeconds: 3)
        try attacker.send(Self.post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" + Self.smuggled)
        #expect(try attacker.readResponse(method: "POST").status == 400)
        for _ in 0..<3 { try fixture.expectVictimGetsItsOwnAnswer() }
        #expect(!(try fixture.targetsSeenAfterSettling()).contains { $0.contains("SMUGGLED") })
    }

    /// A request the proxy accepts, and what the naive backend must make of it.
    struct Acceptance: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: String
        let method: String
        let target: String
        let body: String
        /// Fields the backend must get as sent, and names it must not get at all.
        var forwarded: [String: String] = [:]
        var dropped: [String] = []
        var testDescription: String { name }
    }

    static let acceptances: [Acceptance] = [
        Acceptance(name: "a Content-Length body", bytes: "POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                   method: "POST", target: "/cl", body: "hello"),
        Acceptance(name: "a chunked body with chunk extensions",
                   bytes: "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + "5;name=value\r\nhello\r\n6;q=\"a b\"\r\n world\r\n0\r\n\r\n",
                   method: "POST", target: "/chunked", body: "hello world"),
        Acceptance(name: "a chunked body in one-byte chunks",
                   bytes: "PUT /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n",
                   method: "PUT", target: "/small", body: "abc"),
        Acceptance(name: "an HTTP/1.0 request with a body",
                   bytes: "POST /old HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", method: "POST", target: "/old", body: "abc"),
        Acceptance(name: "OPTIONS *", bytes: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", method: "OPTIONS", target: "*", body: ""),
        Acceptance(name: "hop-by-hop fields", bytes: "GET /hop HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret\r\n"
                       + "X-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Keep: yes\r\n\r\n",
                   method: "GET", target: "/hop", body: "", forwarded: ["x-keep": "yes"], dropped: ["x-secret"]),
    ]

    @Test(arguments: acceptances)
    func anAcceptedRequestReachesTheNaiveBackendAsExactlyOneCanonicalRequest(_ acceptance: Acceptance) throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        let response = try fixture.exchange(acceptance.bytes, method: acceptance.method)
        #expect(response.status == 200)
        #expect(response.text == "seen: \(acceptance.method) \(acceptance.target) body-bytes=\(acceptance.body.utf8.count)")
        try fixture.expectVictimGetsItsOwnAnswer()
        let seen = fixture.backend.requests
        #expect(seen.map(\.target) == [acceptance.target, "/victim"], "\(acceptance.name)")
        guard let request = seen.first else { return }
        #expect(request.method == acceptance.method)
        #expect(request.body == Array(acceptance.body.utf8))
        fixture.expectCanonical(request)
        #expect(!String(decoding: request.raw, as: UTF8.self).contains("name=value"), "chunk extensions are not forwarded")
        for (name, value) in acceptance.forwarded { #expect(request.values(name) == [value], "\(name)") }
        for name in acceptance.dropped { #expect(request.values(name).isEmpty, "\(name) was forwarded") }
    }

    @Test func anAbsoluteFormTargetReachesTheBackendInOriginFormWithItsAuthorityAsHost() throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        let response = try fixture.exchange("GET http://example.com/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n")
        #expect(response.text == "seen: GET /p?q body-bytes=0")
        try fixture.expectVictimGetsItsOwnAnswer()
        let request = try #require(fixture.backend.requests.first)
        #expect(request.target == "/p?q")
        #expect(request.values("host") == ["example.com"])
        #expect(request.values("x-forwarded-host") == ["example.com"])
        fixture.expectCanonical(request)
    }

    @Test func anH2CUpgradeIsForwardedAsAPlainRequest() throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        let response = try fixture.exchange("GET /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                            + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.text == "seen: GET /h2 body-bytes=0")
        try fixture.expectVictimGetsItsOwnAnswer()
        let request = try #require(fixture.backend.requests.first)
        #expect(request.values("upgrade").isEmpty)
        #expect(request.values("connection").isEmpty)
        #expect(request.values("http2-settings").isEmpty)
        fixture.expectCanonical(request)
    }

    @Test func anExpectedBodyIsAnsweredWith100ByTheProxyAndReachesTheBackendWithoutExpect() throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        let connection = try HTTPTestConnection(port: fixture.port, timeoutSeconds: 5)
        try connection.send("POST /expect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        #expect(try connection.readInterim() == 100)
        try connection.send("3\r\nabc\r\n0\r\n\r\n")
        #expect(try connection.readResponse(method: "POST").text == "seen: POST /expect body-bytes=3")
        try fixture.expectVictimGetsItsOwnAnswer()
        let request = try #require(fixture.backend.requests.first)
        #expect(request.values("expect").isEmpty)
        #expect(request.body == Array("abc".utf8))
        fixture.expectCanonical(request)
    }

    @Test func pipelinedRequestsFromTwoClientsOverOnePooledConnectionEachGetTheirOwnAnswers() throws {
        let fixture = try NaiveProxyFixture()
        defer { fixture.stop() }
        let first = try HTTPTestConnection(port: fixture.port, timeoutSeconds: 5)
        let second = try HTTPTestConnection(port: fixture.port, timeoutSeconds: 5)
        for round in 0..<3 {
            try first.send("POST /one/\(round) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
                           + "GET /one/\(round)/next HTTP/1.1\r\nHost: x\r\n\r\n")
            try second.send("GET /two/\(round) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try first.readResponse(method: "POST").text == "seen: POST /one/\(round) body-bytes=2")
            #expect(try first.readResponse().text == "seen: GET /one/\(round)/next body-bytes=0")
            #expect(try second.readResponse().text == "seen: GET /two/\(round) body-bytes=0")
        }
        #expect(fixture.backend.requests.count == 9)
    }
}

/// A `NaiveBackend` behind a real `lbserver` with one event loop, so every client connection
/// draws on the same keep-alive pool; stopped (both processes' resources) by `stop()`.
struct NaiveProxyFixture {
    let folder: TemporaryFolder
    let backend: NaiveBackend
    let server: ServerProcess
    let port: Int

    init() throws {
        folder = try TemporaryFolder()
        backend = try NaiveBackend()
        server = try ServerProcess(lbserver: ["--backends", backend.url, "--db", folder.database, "--threads", "1"],
                                   folder: folder.url)
        port = try server.waitUntilListening()
    }

    func stop() {
        server.stop()
        backend.stop()
    }

    /// Sends `bytes` on a fresh connection and reads one answer.
    func exchange(_ bytes: String, method: String = "GET") throws -> TestResponse {
        let connection = try HTTPTestConnection(port: port, timeoutSeconds: 5)
        try connection.send(bytes)
        return try connection.readResponse(method: method)
    }

    /// A second client's plain request gets the answer to that request, not a late one of another.
    func expectVictimGetsItsOwnAnswer(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let response = try exchange("GET /victim HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response.text == "seen: GET /victim body-bytes=0", "the victim got someone else's answer",
                sourceLocation: sourceLocation)
    }

    /// The targets the backend parsed, once it has parsed a `/victim` and then nothing new for a
    /// moment (a smuggled request's bytes arrive before or with the victim's).
    func targetsSeenAfterSettling() throws -> [String] {
        _ = waitUntil(timeout: .seconds(5)) { backend.requests.contains { $0.target == "/victim" } }
        var count = backend.requests.count
        // Bounded: settled once the count holds for 200 ms, or after 3 s whatever happens.
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            if !waitUntil(timeout: .milliseconds(200), { backend.requests.count != count }) { break }
            count = backend.requests.count
        }
        return backend.requests.map(\.target)
    }

    /// What reached the backend is canonical: HTTP/1.1, one Host, at most one framing field and
    /// that one exact, no hop-by-hop or Expect fields, and the proxy's forwarding fields once each.
    func expectCanonical(_ request: NaiveRequestParser.Request, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(request.version == "HTTP/1.1", sourceLocation: sourceLocation)
        #expect(request.values("host").count == 1, sourceLocation: sourceLocation)
        let lengths = request.values("content-length")
        let codings = request.headers.filter { $0.name.lowercased() == "transfer-encoding" }
        #expect(lengths.count + codings.count <= 1, "framing fields: \(lengths) \(codings.map(\.line))",
                sourceLocation: sourceLocation)
        if let coding = codings.first {
            #expect(coding.isExactlyChunked, "\(coding.line)", sourceLocation: sourceLocation)
        } else if let length = lengths.first {
            #expect(length == "\(request.body.count)", sourceLocation: sourceLocation)
        } else {
            #expect(request.body.isEmpty, sourceLocation: sourceLocation)
        }
        for name in ["connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "expect"] {
            #expect(request.values(name).isEmpty, "\(name) was forwarded", sourceLocation: sourceLocation)
        }
        for name in ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"] {
            #expect(request.values(name).count == 1, "\(name): \(request.values(name))", sourceLocation: sourceLocation)
        }
    }
}
