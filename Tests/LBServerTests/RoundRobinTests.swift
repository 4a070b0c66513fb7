import LBStore
import Testing
@testable import LBServer

@Suite struct RoundRobinTests {
    private func backends(_ count: Int) -> [BackendRuntime] {
        (0..<count).map { index in
            BackendRuntime(id: Int64(index + 1), url: try! BackendURL(parsing: "http://127.0.0.1:\(9000 + index)"),
                           slot: index, health: .up, weight: 1, adminState: .enabled)
        }
    }

    @Test func picksAlternateInRingOrderStartingAfterTheCursor() {
        let all = backends(3)
        let balancer = RoundRobin(cursor: 0)
        balancer.replace(with: BackendSnapshot(all))
        let picks = (0..<6).compactMap { _ in balancer.nextBackend()?.id }
        #expect(picks == [2, 3, 1, 2, 3, 1])
    }

    @Test func aDeadBackendIsSkippedAndTheCursorMovesToTheOneChosen() {
        let all = backends(3)
        _ = all[1].transition(to: .down)
        let balancer = RoundRobin(cursor: 0)
        balancer.replace(with: BackendSnapshot(all))
        #expect(balancer.nextBackend()?.id == 3)  // index 1 is dead: walk on to index 2
        #expect(balancer.cursor == 2)
        #expect(balancer.nextBackend()?.id == 1)
        #expect(balancer.nextBackend()?.id == 3)
    }

    @Test func excludedAndDeadBackendsLeaveNothingToPick() {
        let all = backends(2)
        _ = all[0].transition(to: .down)
        let balancer = RoundRobin()
        balancer.replace(with: BackendSnapshot(all))
        #expect(balancer.nextBackend(excluding: [2]) == nil)
        balancer.replace(with: .empty)
        #expect(balancer.nextBackend() == nil)
    }

    @Test func aRestoredCursorContinuesWhereItStood() {
        let balancer = RoundRobin(cursor: 4)
        balancer.replace(with: BackendSnapshot(backends(3)))
        #expect(balancer.nextBackend()?.id == 3)  // (4 + 1) % 3 = 2
    }

    @Test func healthTransitionsAreReportedOnce() {
        let backend = backends(1)[0]
        #expect(backend.transition(to: .down) == .up)
        #expect(backend.transition(to: .down) == nil)
        #expect(!backend.isAlive)
        #expect(backend.transition(to: .up) == .down)
    }
}

@Suite struct BackendURLTests {
    @Test func aURLWithoutAPortGetsTheSchemesDefault() throws {
        let url = try BackendURL(parsing: "  http://Example.internal ")
        #expect(url.port == 80)
        #expect(url.text == "http://example.internal:80")
        #expect(url.hostHeader == "example.internal")
    }

    @Test func anHTTPSURLDefaultsToPort443AndKeepsItsScheme() throws {
        let url = try BackendURL(parsing: "HTTPS://API.example.internal/v1/")
        #expect(url.isTLS && url.port == 443)
        #expect(url.text == "https://api.example.internal:443/v1")
        #expect(url.hostHeader == "api.example.internal")
        #expect(try BackendURL(parsing: "https://10.0.0.7:8443").hostHeader == "10.0.0.7:8443")
        #expect(try !BackendURL(parsing: "http://10.0.0.7:443").isTLS)
    }

    @Test func aPathPrefixIsKeptWithoutItsTrailingSlash() throws {
        let url = try BackendURL(parsing: "http://127.0.0.1:9000/api/")
        #expect(url.pathPrefix == "/api")
        #expect(url.text == "http://127.0.0.1:9000/api")
    }

    @Test(arguments: ["ftp://127.0.0.1:21", "127.0.0.1:8080", "http://", "http://host:0", "http://host:70000",
                      "http://host:abc", "http://user:pw@host:1", "http://host/x?y=1", "http://ho st:1", "https://", "wss://host:1"])
    func malformedOrUnsupportedURLsAreRefused(text: String) {
        #expect(throws: BackendURL.ParseError.self) { try BackendURL(parsing: text) }
    }

    @Test func listsAreTrimmedAndRefuseEmptyItemsAndDuplicates() throws {
        let list = try BackendURL.parseList(" http://127.0.0.1:1 ,http://127.0.0.1:2")
        #expect(list.map(\.port) == [1, 2])
        #expect(throws: BackendURL.ParseError.self) { try BackendURL.parseList("http://127.0.0.1:1,,http://127.0.0.1:2") }
        #expect(throws: BackendURL.ParseError.self) { try BackendURL.parseList("http://127.0.0.1:1,http://127.0.0.1:1/") }
    }

    @Test func absoluteFormTargetsBecomeOriginForm() {
        #expect(RequestHead.originForm(of: "/a?b") == "/a?b")
        #expect(RequestHead.originForm(of: "http://host:1/a/b?c") == "/a/b?c")
        #expect(RequestHead.originForm(of: "http://host:1") == "/")
        #expect(RequestHead.originForm(of: "http://host?q") == "/?q")
    }
}
