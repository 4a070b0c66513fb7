import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Through the real daemon: what is repeated after a failure and what is not, a request that
/// kills every backend it reaches, the guard that keeps traffic from emptying the pool, and the
/// deadlines and response rules of a careful intermediary.
@Suite(.serialized) struct SafeRetryEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A daemon in front of `backends`, with checks rare enough to leave health to the traffic.
    private func start(_ backends: [TestBackend], _ extra: [String] = [], folder: TemporaryFolder) throws -> (ServerProcess, Int) {
        let server = try ServerProcess(lbserver: ["--backends", backends.map(\.url).joined(separator: ","),
                                                  "--db", folder.database, "--health-interval", "1m",
                                                  "--health-down-interval", "1m"] + extra, folder: folder.url)
        return (server, try server.waitUntilListening())
    }

    private func events(_ kinds: [EventKind], in folder: TemporaryFolder) throws -> [Event] {
        try Store(path: folder.database, mode: .existing).events(EventQuery(kinds: kinds))
    }

    // MARK: Retries

    @Test func aPostThatMayHaveReachedTheBackendIsNotSentAgain() throws {
        let folder = try TemporaryFolder()
        // Reads the whole request, then closes without answering, once.
        let flaky = try TestBackend(name: "flaky", behaviour: .resetFirst(1), group: group)
        defer { flaky.stop() }
        let (server, port) = try start([flaky], folder: folder)
        defer { server.stop() }
        let response = try httpRequest(port: port, "POST", "/orders", body: Array("pay 10".utf8))
        #expect(response.status == 502)
        #expect(flaky.requests == 1)
        #expect(waitUntil {
            (try? events([.rejected], in: folder).first?.detail?.contains("not retried: POST is not idempotent")) == true
        })
        #expect(try events([.retry], in: folder).isEmpty)
    }

    @Test func aPostIsSentAgainWhenNothingReachedTheBackend() throws {
        let folder = try TemporaryFolder()
        let alive = try TestBackend(name: "alive", group: group)
        let gone = try TestBackend(name: "gone", group: group)
        defer { alive.stop(); gone.stop() }
        let (server, port) = try start([gone, alive], folder: folder)
        defer { server.stop() }
        // Up at start, then it stops listening: a try there is refused and never leaves the proxy.
        // The start-up checks run on their own time after the listening line: they pass first.
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        gone.stop()
        for _ in 0..<2 {
            let response = try httpRequest(port: port, "POST", "/orders", body: Array("pay 10".utf8))
            #expect(response.status == 200)
            #expect(response.text == "alive")
        }
        #expect(alive.bodySizes == [6, 6])
        #expect(waitUntil { (try? events([.retry], in: folder).count) == 3 })
    }

    // MARK: A request of death

    @Test func aRequestThatKillsBackendsIsStoppedAtTheSecondWhichStaysUp() throws {
        let folder = try TemporaryFolder()
        let backends = try (0..<3).map {
            try TestBackend(name: "b\($0)", behaviour: .closeWhenTargetContains("/crash"), group: group)
        }
        defer { backends.forEach { $0.stop() } }
        let (server, port) = try start(backends, folder: folder)
        defer { server.stop() }
        let response = try httpRequest(port: port, "GET", "/crash?x=1", headers: [("X-Request-Id", "death-1")])
        #expect(response.status == 502)
        // The first backend got its seed retries (1 + 3), the second one try, the third none.
        #expect(backends.map(\.requests).sorted() == [0, 1, 4])
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.suspectRequest])).count) == 1 })
        let suspect = try #require(try store.events(EventQuery(kinds: [.suspectRequest])).first)
        #expect(suspect.requestID == "death-1")
        #expect(suspect.data?.method == "GET")
        #expect(suspect.data?.target == "/crash?x=1")
        #expect(suspect.data?.backendIDs?.count == 2)
        let downs = try store.events(EventQuery(kinds: [.statusChange])).filter { $0.data?.to == "down" }
        #expect(downs.count == 1)
        #expect(downs.first?.backendID != suspect.backendID)
        let spared = try #require(try store.backends().first { $0.id == suspect.backendID })
        #expect(spared.health != .down)
        // Everyone else is still served.
        #expect(try httpRequest(port: port).status == 200)
        // lbctl why names the request it blamed instead of the backend.
        let why = try runProduct("lbctl", ["why", spared.url, "--db", folder.database], folder: folder.url)
        #expect(why.status == 0)
        #expect(why.stdout.contains("suspect_request request death-1: GET /crash?x=1 failed the same way on 2 backends"),
                "\(why.stdout)")
    }

    // MARK: The guard on traffic mark-downs

    @Test func trafficAloneNeverMarksDownTheOnlyBackend() throws {
        let folder = try TemporaryFolder()
        let failing = try TestBackend(name: "failing", behaviour: .resetFirst(1_000), group: group)
        defer { failing.stop() }
        // Outlier detection off: its own holds for the only backend would be guard_held rows too.
        let (server, port) = try start([failing], ["--retry-delay", "1ms", "--outlier-failures", "off"], folder: folder)
        defer { server.stop() }
        for _ in 0..<3 {
            #expect(try httpRequest(port: port).status == 503)
        }
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.guardHeld])).count) == 3 })
        #expect(try store.events(EventQuery(kinds: [.statusChange])).filter { $0.data?.to == "down" }.isEmpty)
        #expect(try store.backends().first?.health != .down)
        let why = try runProduct("lbctl", ["why", failing.url, "--json", "--db", folder.database], folder: folder.url)
        #expect(why.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(why.stdout.utf8)) as? [String: Any]
        let heldBack = try #require(json?["held_back"] as? [[String: Any]])
        #expect(heldBack.count == 3)
        #expect(why.stdout.isEmpty == false)
        #expect(heldBack.allSatisfy { $0["kind"] as? String == "guard_held" })
    }

    @Test func trafficMarksDownAtMostHalfTheEnabledBackendsInOneDownInterval() throws {
        let folder = try TemporaryFolder()
        // Two ways of failing, so that no request is blamed in their place.
        let resetting = try TestBackend(name: "resetting", behaviour: .resetFirst(1_000), group: group)
        let silent = try TestBackend(name: "silent", behaviour: .hang, group: group)
        defer { resetting.stop(); silent.stop() }
        let (server, port) = try start([resetting, silent], ["--retry-delay", "1ms", "--response-timeout", "300ms"],
                                       folder: folder)
        defer { server.stop() }
        for _ in 0..<2 {
            let status = try httpRequest(port: port).status
            #expect(status == 503 || status == 504)
        }
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.guardHeld])).isEmpty) == false })
        // One backend out (by traffic, or by outlier detection, which counts traffic's mark-downs
        // against the same half), never both.
        let downs = try store.events(EventQuery(kinds: [.statusChange])).filter { $0.data?.to == "down" }
        #expect(Set(downs.map(\.backendID)).count == 1)
        #expect(try store.backends().filter { $0.health == .down }.count == 1)
    }

    // MARK: Deadlines

    @Test func aClientThatStopsSendingItsBodyGets408AndTheBackendNeverAWholeRequest() throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "b", group: group)
        defer { backend.stop() }
        let (server, port) = try start([backend], ["--body-timeout", "1s"], folder: folder)
        defer { server.stop() }
        let connection = try HTTPTestConnection(port: port, timeoutSeconds: 10)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        let started = ContinuousClock.now
        let response = try connection.readResponse(method: "POST")
        #expect(response.status == 408)
        #expect(ContinuousClock.now - started >= .milliseconds(800))
        #expect(connection.isClosedByPeer())
        #expect(backend.requests == 0)
        #expect(waitUntil {
            (try? events([.refused], in: folder).contains { $0.detail?.contains("request body did not arrive in time") == true }) == true
        })
    }

    @Test func aBodyThatKeepsComingIsNotCutOff() throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "b", group: group)
        defer { backend.stop() }
        // Pauses of half the timeout, with room for a slow machine (ThreadSanitizer) between them.
        let (server, port) = try start([backend], ["--body-timeout", "2s"], folder: folder)
        defer { server.stop() }
        let connection = try HTTPTestConnection(port: port)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
        for byte in ["a", "b", "c", "d"] {
            Thread.sleep(forTimeInterval: 1.0)
            try connection.send(byte)
        }
        let response = try connection.readResponse(method: "POST")
        #expect(response.status == 200)
        #expect(backend.bodySizes == [4])
    }

    // MARK: The response side

    @Test func a204WithStrayBytesLosesItsFramingAndItsConnectionIsNotReused() throws {
        let folder = try TemporaryFolder()
        let sloppy = try TestBackend(name: "sloppy", behaviour: .raw("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
                                     group: group)
        defer { sloppy.stop() }
        let (server, port) = try start([sloppy], folder: folder)
        defer { server.stop() }
        // The start-up health check connects once, on its own time: counted before, not during.
        #expect(waitUntil { sloppy.connections >= 1 })
        let connectionsBefore = sloppy.connections
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<2 {
            try connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try connection.readHead()
            #expect(head.hasPrefix("HTTP/1.1 204 No Content"))
            #expect(!head.lowercased().contains("content-length"))
        }
        // "hello" followed the 204 on the backend's connection: that connection is never used again.
        #expect(sloppy.requests == 2)
        #expect(sloppy.connections - connectionsBefore == 2)
    }

    @Test func aMalformedBodyAfterAValidHeadClosesTheClientAndCountsAgainstTheBackend() throws {
        let folder = try TemporaryFolder()
        let broken = try TestBackend(name: "broken", behaviour: .raw(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"), group: group)
        defer { broken.stop() }
        let (server, port) = try start([broken], folder: folder)
        defer { server.stop() }
        let connection = try HTTPTestConnection(port: port, timeoutSeconds: 5)
        #expect(throws: TestClientError.self) { try connection.request() }
        #expect(waitUntil {
            (try? events([.failure], in: folder).contains {
                $0.detail?.contains("invalid response") == true && $0.detail?.contains("after the response began") == true
            }) == true
        })
    }
}
