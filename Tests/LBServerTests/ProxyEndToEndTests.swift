import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// The daemon's traffic behaviour, end to end: real `lbserver`, real backends, real sockets.
@Suite(.serialized) struct ProxyEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func requestsAlternateAcrossBackends() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        let served = try (0..<8).map { _ in try connection.request().text }
        #expect(Set(served) == ["a", "b"])
        for index in 1..<served.count { #expect(served[index] != served[index - 1], "\(served)") }
    }

    @Test func proxyHeadersAreSetAndTheRequestIDIsKeptOrMade() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let kept = try httpRequest(port: port, headers: [("X-Request-Id", "client-id-1"), ("X-Forwarded-For", "10.1.1.1"),
                                                         ("Connection", "keep-alive, X-Secret"), ("X-Secret", "hop"),
                                                         ("Keep-Alive", "timeout=5")])
        #expect(kept.status == 200)
        #expect(kept.header("x-seen-request-id") == "client-id-1")
        #expect(kept.header("x-request-id") == "client-id-1")
        #expect(kept.header("x-seen-xff") == "10.1.1.1, 127.0.0.1")
        #expect(kept.header("x-seen-host") == "test.local")
        let made = try httpRequest(port: port, headers: [("X-Request-Id", "bad id with spaces")])
        let id = try #require(made.header("x-seen-request-id"))
        #expect(!id.isEmpty && id != "bad id with spaces")
        #expect(made.header("x-request-id") == id)
    }

    @Test func largeResponseBodiesStreamThroughWhole() throws {
        let folder = try TemporaryFolder()
        let big = try TestBackend(name: "big", group: group, responseBodyBytes: 4 * 1024 * 1024)
        defer { big.stop() }
        let server = try ServerProcess(lbserver: ["--backends", big.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        let expected = largeBody(4 * 1024 * 1024)
        for _ in 0..<3 {
            let response = try connection.request()
            #expect(response.status == 200)
            #expect(response.body.count == expected.count)
            #expect(response.body == expected)
        }
    }

    @Test func failoverShowsNoErrorsWhenOneOfTwoBackendsDiesUnderGETTraffic() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database,
                                                  "--health-down-interval", "200ms"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        var statuses: [Int: Int] = [:]
        var servedBy: [String: Int] = [:]
        // Two client connections in turn; b dies a third of the way through.
        let connections = try [HTTPTestConnection(port: port), HTTPTestConnection(port: port)]
        for index in 0..<300 {
            if index == 100 { b.stop() }
            let response = try connections[index % 2].request("GET", "/item/\(index)")
            statuses[response.status, default: 0] += 1
            servedBy[response.text, default: 0] += 1
        }
        #expect(statuses == [200: 300])
        #expect((servedBy["b"] ?? 0) >= 40 && (servedBy["b"] ?? 0) <= 60, "\(servedBy)")

        let store = try Store(path: folder.database, mode: .existing)
        let backendB = try #require(try store.backend(url: b.url))
        #expect(waitUntil { (try? store.backend(url: b.url)?.health) == .down })
        let failures = try store.events(EventQuery(backendID: backendB.id, kinds: [.failure]))
        #expect(!failures.isEmpty)
        #expect(failures.allSatisfy { $0.requestID != nil && $0.detail?.isEmpty == false })
        let changes = try store.events(EventQuery(backendID: backendB.id, kinds: [.statusChange]))
        #expect(changes.last?.detail?.hasPrefix("up->down") == true, "\(changes.map(\.detail))")
        // The checker keeps probing the dead backend and records its failing run.
        #expect(waitUntil {
            (try? store.healthHistory(backendID: backendB.id, in: .all).runs.last?.passed) == false
        })
        let history = try store.healthHistory(backendID: backendB.id, in: .all)
        #expect(history.runs.last?.lastError == "connection refused")
    }

    @Test func eachBackendGetsItsOwnRetriesAndAttemptsCoverDistinctBackends() throws {
        let folder = try TemporaryFolder()
        // Three backends up at start (their checks pass) that then stop listening: every try is
        // refused, which says nothing about the request, so each backend gets its own retries.
        let alive = try TestBackend(name: "alive", group: group)
        let broken = try (1...3).map { try TestBackend(name: "broken\($0)", group: group) }
        defer { alive.stop(); broken.forEach { $0.stop() } }
        let list = ([alive] + broken).map(\.url).joined(separator: ",")
        let server = try ServerProcess(lbserver: ["--backends", list, "--db", folder.database, "--attempts", "4",
                                                  "--health-interval", "1m", "--health-down-interval", "1m"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        // The start-up checks run on their own time after the listening line: they pass first.
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        broken.forEach { $0.stop() }
        // With the cursor at 0 the ring is walked from index 1: broken1, broken2, broken3, alive.
        let response = try httpRequest(port: port, "GET", "/x")
        #expect(response.status == 200)
        #expect(response.text == "alive")

        let requestID = try #require(response.header("x-request-id"))
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.attempt])))?.count ?? 0) >= 3 })
        let events = try store.events(EventQuery()).filter { $0.requestID == requestID }
        for backend in broken {
            #expect(events.filter { $0.kind == .failure && $0.backendURL == backend.url }.count == 4)
            #expect(events.filter { $0.kind == .retry && $0.backendURL == backend.url }.count == 3)
        }
        // Traffic marks down at most half of the four enabled backends; the third is left to its checks.
        #expect(events.filter { $0.kind == .statusChange }.map(\.backendURL) == [broken[0].url, broken[1].url])
        #expect(events.filter { $0.kind == .guardHeld }.map(\.backendURL) == [broken[2].url])
        let attempts = events.filter { $0.kind == .attempt }
        #expect(attempts.map(\.backendURL) == [broken[1].url, broken[2].url, alive.url])
        #expect(events.filter { $0.kind == .failure }.map(\.attempt) == Array(1...12).map { Optional($0) })
    }

    @Test func everyTryStartsFromTheClientsRequest() throws {
        let folder = try TemporaryFolder()
        let flaky = try TestBackend(name: "flaky", behaviour: .resetFirst(2), group: group)
        defer { flaky.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(flaky.url)/api", "--db", folder.database],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let response = try httpRequest(port: port, "GET", "/items?id=7", headers: [("X-Forwarded-For", "192.0.2.1")])
        #expect(response.status == 200)
        #expect(flaky.requests == 3)
        #expect(response.header("x-seen-uri") == "/api/items?id=7")
        #expect(response.header("x-seen-xff") == "192.0.2.1, 127.0.0.1")
    }

    @Test func aPostWithAnIdempotencyKeyIsSentWholeAgainOnRetryAndTheBackendStaysUp() throws {
        let folder = try TemporaryFolder()
        let flaky = try TestBackend(name: "flaky", behaviour: .resetFirst(1), group: group)
        defer { flaky.stop() }
        let server = try ServerProcess(lbserver: ["--backends", flaky.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let body = [UInt8](repeating: 0x61, count: 10_000)
        let response = try httpRequest(port: port, "POST", "/upload", headers: [("Idempotency-Key", "k-1")], body: body)
        #expect(response.status == 200)
        #expect(response.header("x-seen-body-bytes") == "10000")
        #expect(flaky.requests == 2)
        #expect(flaky.bodySizes == [10_000])
        let store = try Store(path: folder.database, mode: .existing)
        #expect(try store.backend(url: flaky.url)?.health != .down)
    }

    @Test func aBodyLargerThanTheReplayBufferIsNotRepeatedAndAnswers502() throws {
        let folder = try TemporaryFolder()
        let flaky = try TestBackend(name: "flaky", behaviour: .resetFirst(1), group: group)
        defer { flaky.stop() }
        let server = try ServerProcess(lbserver: ["--backends", flaky.url, "--db", folder.database,
                                                  "--replay-buffer", "1024"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let response = try httpRequest(port: port, "POST", "/upload", body: [UInt8](repeating: 0x62, count: 10_000))
        #expect(response.status == 502)
        #expect(flaky.requests == 1)
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.failure])))?.count ?? 0) == 1 })
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.rejected])))?.first?.detail?.hasPrefix("502")) == true })
    }

    @Test func aClientThatHangsUpIsNotCountedAgainstTheBackend() throws {
        let folder = try TemporaryFolder()
        let slow = try TestBackend(name: "slow", behaviour: .serve(delay: .milliseconds(500)), group: group)
        defer { slow.stop() }
        let server = try ServerProcess(lbserver: ["--backends", slow.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        for _ in 0..<5 {
            let connection = try HTTPTestConnection(port: port)
            try connection.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(waitUntil { slow.requests > 0 })
            connection.hangUp()
        }
        // The backend still serves, and nothing was recorded against it.
        #expect(try httpRequest(port: port).status == 200)
        let store = try Store(path: folder.database, mode: .existing)
        #expect(try store.events(EventQuery(kinds: [.failure, .statusChange])).filter { $0.detail?.contains("traffic") == true || $0.kind == .failure }.isEmpty)
        #expect(try store.backend(url: slow.url)?.health == .up)
    }

    @Test func earlyHintsReachAnHTTP11ClientBeforeTheFinalAnswerAndNotAnHTTP10One() throws {
        let folder = try TemporaryFolder()
        let hinting = try TestBackend(name: "hinting", behaviour: .earlyHints, group: MultiThreadedEventLoopGroup.singleton)
        defer { hinting.stop() }
        let server = try ServerProcess(lbserver: ["--backends", hinting.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        // Twice on one connection: the interim answer must not end the exchange nor upset the next.
        for _ in 0..<2 {
            try connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let interim = try connection.readHead()
            #expect(interim.hasPrefix("HTTP/1.1 103 Early Hints\r\n"), "\(interim)")
            #expect(interim.contains("\r\nLink: </style.css>; rel=preload"))
            #expect(!interim.lowercased().contains("connection:"))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "hinting")
        }
        let old = try HTTPTestConnection(port: port)
        try old.send("GET / HTTP/1.0\r\n\r\n")
        #expect(try old.readHead().hasPrefix("HTTP/1.0 200 "))
        #expect(hinting.requests == 3)
    }

    @Test func nothingUpAnswers503AtOnceAndSaysSo() throws {
        let folder = try TemporaryFolder()
        let server = try ServerProcess(lbserver: ["--backends", "http://127.0.0.1:\(try refusedPort())",
                                                  "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().first?.health) == .down })
        let started = ContinuousClock.now
        let connection = try HTTPTestConnection(port: port)
        let response = try connection.request()
        #expect(response.status == 503)
        #expect(response.text.contains("no backend available"))
        #expect(ContinuousClock.now - started < .seconds(1))
        // The connection stays open for the next request.
        #expect(response.header("connection") == nil)
        #expect(try connection.request("HEAD").status == 503)
        #expect(waitUntil { server.stderr.contains("no backend is alive") })
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.rejected])))?.count ?? 0) >= 1 })
    }

    @Test func checksRunAtStartupAndADownBackendReturnsQuickly() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        b.stop()
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database,
                                                  "--health-interval", "1m", "--health-down-interval", "200ms"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        // Found down by the first check round, long before the 1-minute interval.
        #expect(waitUntil(timeout: .seconds(5)) { (try? store.backend(url: b.url)?.health) == .down })
        #expect(try (0..<4).allSatisfy { _ in try httpRequest(port: port).text == "a" })
        try b.restart()
        #expect(waitUntil(timeout: .seconds(5)) { (try? store.backend(url: b.url)?.health) == .up })
        let served = try Set((0..<4).map { _ in try httpRequest(port: port).text })
        #expect(served == ["a", "b"])
    }

    @Test func anHTTPCheckRefusesAServerThatOnlyAccepts() throws {
        let folder = try TemporaryFolder()
        let closer = try TestBackend(name: "closer", behaviour: .resetFirst(1_000), group: group)
        defer { closer.stop() }
        let server = try ServerProcess(lbserver: ["--backends", closer.url, "--db", folder.database,
                                                  "--health-path", "/healthz"], folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().first?.health) == .down })
        let backend = try #require(try store.backends().first)
        let history = try store.healthHistory(backendID: backend.id, in: .all)
        #expect(history.runs.first?.passed == false)
    }
}
