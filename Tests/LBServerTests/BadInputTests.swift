import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Requests a careful proxy must refuse, sent as raw bytes: each gets the right status and a
/// closed connection, and the backend never sees it.
@Suite(.serialized) struct BadInputTests {
    static let cases: [(name: String, bytes: String, status: Int)] = [
        ("Content-Length with Transfer-Encoding",
         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("two differing Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        ("a transfer coding other than chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", 501),
        ("chunked followed by gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        ("malformed chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
        ("obsolete line folding", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 400),
        ("bare CR in a header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
        ("NUL in a header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n", 400),
        ("request target over the limit", "GET /" + String(repeating: "a", count: 2_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("header block over the limit", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "v", count: 3_000) + "\r\n\r\n", 431),
        ("header block over the parser's own limit",
         "GET / HTTP/1.1\r\nHost: x\r\n" + (0..<1_000).map { "X-H\($0): " + String(repeating: "v", count: 100) + "\r\n" }.joined() + "\r\n", 431),
        ("too many header fields", "GET / HTTP/1.1\r\nHost: x\r\n" + (0..<30).map { "X-H\($0): v\r\n" }.joined() + "\r\n", 431),
    ]

    /// A daemon in front of one serving backend, started with `extra` flags, for a test to send
    /// bytes at.
    private final class Daemon {
        let folder: TemporaryFolder
        let backend: TestBackend
        let server: ServerProcess
        let port: Int

        init(_ extra: [String] = []) throws {
            folder = try TemporaryFolder()
            backend = try TestBackend(name: "a", group: MultiThreadedEventLoopGroup.singleton)
            server = try ServerProcess(lbserver: ["--backends", backend.url, "--db", folder.database] + extra,
                                       folder: folder.url)
            port = try server.waitUntilListening()
        }

        func stop() {
            server.stop()
            backend.stop()
        }
    }

    @Test func everyBadRequestIsRefusedClosedAndNeverForwarded() throws {
        let daemon = try Daemon(["--max-request-line", "1024", "--max-header-bytes", "2048", "--max-headers", "20"])
        defer { daemon.stop() }
        let (backend, port) = (daemon.backend, daemon.port)
        for testCase in Self.cases {
            let connection = try HTTPTestConnection(port: port)
            try connection.send(testCase.bytes)
            let response = try connection.readResponse()
            #expect(response.status == testCase.status, "\(testCase.name): \(response.status)")
            #expect(response.header("connection")?.lowercased() == "close", "\(testCase.name)")
            #expect(connection.isClosedByPeer(), "\(testCase.name): connection left open")
        }
        #expect(backend.requests == 0)
        // A good request on a fresh connection still goes through.
        #expect(try httpRequest(port: port).status == 200)
    }

    /// Found by the relay fuzzer: a refused HEAD got a body, which a client that read the method
    /// takes for the start of another response.
    @Test func aRefusedHEADIsAnsweredWithoutABody() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let (backend, port) = (daemon.backend, daemon.port)
        for bytes in ["HEAD /h HTTP/1.1\r\nHost: a b\r\n\r\n", "HEAD /h HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n",
                      "HEAD /" + String(repeating: "a", count: 9_000) + " HTTP/1.1\r\nHost: x\r\n\r\n"] {
            let connection = try HTTPTestConnection(port: port)
            try connection.send(bytes)
            let response = try connection.readResponse(method: "HEAD")
            #expect(response.status == 400 || response.status == 414)
            #expect(Int(response.header("content-length") ?? "") ?? 0 > 0)
            // The body its Content-Length announces is not sent: the next thing is the close.
            #expect(connection.isClosedByPeer())
        }
        #expect(backend.requests == 0)
    }

    @Test func aClientTooSlowWithItsHeadersGets408() throws {
        let daemon = try Daemon(["--header-timeout", "300ms"])
        defer { daemon.stop() }
        let (backend, port) = (daemon.backend, daemon.port)
        // A whole request in time, then a second one trickled too slowly on the same connection.
        let connection = try HTTPTestConnection(port: port)
        #expect(try connection.request().status == 200)
        try connection.send("GET /slow HTTP/1.1\r\nHo")
        let response = try connection.readResponse()
        #expect(response.status == 408)
        #expect(connection.isClosedByPeer())
        #expect(backend.requests == 1)
        // A connection that never says anything is closed the same way.
        let silent = try HTTPTestConnection(port: port)
        #expect(try silent.readResponse().status == 408)
    }

    @Test func anIdleKeepAliveConnectionIsClosedSilentlyAfterTheIdleTimeoutCountedFromItsLastAnswer() throws {
        let daemon = try Daemon(["--idle-timeout", "600ms"])
        defer { daemon.stop() }
        let (backend, port) = (daemon.backend, daemon.port)
        // Busy for longer than the timeout, with pauses shorter than it: the connection stays.
        let busy = try HTTPTestConnection(port: port)
        for _ in 0..<8 {
            #expect(try busy.request().status == 200)
            Thread.sleep(forTimeInterval: 0.2)
        }
        // Then idle: closed without an answer (no 408), not at once and not much later.
        let idleSince = ContinuousClock.now
        #expect(busy.isClosedByPeer())
        let waited = ContinuousClock.now - idleSince
        #expect(waited >= .milliseconds(350) && waited < .seconds(5), "closed after \(waited)")
        #expect(backend.requests == 8)
    }

    @Test func rfc9112BehavioursHold() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let port = daemon.port

        // Pipelined requests are answered in order on one connection.
        let pipelined = try HTTPTestConnection(port: port)
        try pipelined.send((1...5).map { "GET /p\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined())
        let uris = try (1...5).map { _ in try pipelined.readResponse().header("x-seen-uri") }
        #expect(uris == ["/p1", "/p2", "/p3", "/p4", "/p5"])

        // HTTP/1.0 without keep-alive: an HTTP/1.0 answer, then the connection closes.
        let old = try HTTPTestConnection(port: port)
        try old.send("GET /old HTTP/1.0\r\n\r\n")
        let oldResponse = try old.readResponse()
        #expect(oldResponse.status == 200)
        #expect(oldResponse.text == "a")
        #expect(old.isClosedByPeer())

        // Expect: 100-continue gets its interim answer before the body is sent.
        let expecting = try HTTPTestConnection(port: port)
        try expecting.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try expecting.readInterim()
        #expect(interim == 100)
        try expecting.send("hello")
        let final = try expecting.readResponse(method: "POST")
        #expect(final.status == 200)
        #expect(final.header("x-seen-body-bytes") == "5")
        #expect(final.header("x-seen-header-names")?.contains("expect") == false)

        // HEAD: the head and its Content-Length, no body; the connection stays usable.
        let head = try HTTPTestConnection(port: port)
        let headResponse = try head.request("HEAD")
        #expect(headResponse.status == 200 && headResponse.body.isEmpty)
        #expect(try head.request().text == "a")

        // Connection: close is honoured, and hop-by-hop headers it names are not forwarded.
        let closing = try HTTPTestConnection(port: port)
        let closed = try closing.request(headers: [("Connection", "close, X-Hop"), ("X-Hop", "secret"), ("X-Keep", "yes"),
                                                  ("TE", "trailers"), ("Proxy-Authorization", "Basic x")])
        #expect(closed.header("connection")?.lowercased() == "close")
        let seen = closed.header("x-seen-header-names") ?? ""
        #expect(seen.contains("x-keep"))
        #expect(!seen.contains("x-hop") && !seen.contains("te,") && !seen.contains("proxy-authorization"), "\(seen)")
        #expect(closing.isClosedByPeer())
    }
}
