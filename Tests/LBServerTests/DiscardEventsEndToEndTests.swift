import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// `--discard-events`, the benchmark's way to measure what recording costs: traffic is served
/// as usual, and no event reaches the database.
@Suite(.serialized) struct DiscardEventsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func discardEventsServesAroundABrokenBackendAndWritesNoFailureRows() throws {
        #expect(try failureRowsAfterFailover(discardEvents: false) > 0)
        #expect(try failureRowsAfterFailover(discardEvents: true) == 0)
    }

    /// Sends two requests with one of two backends dropping every request (its TCP check still
    /// passes, so traffic, not the checker, finds it broken), stops the daemon cleanly, which
    /// commits everything queued, and returns how many failure, retry and attempt rows it wrote.
    private func failureRowsAfterFailover(discardEvents: Bool) throws -> Int {
        let folder = try TemporaryFolder()
        let alive = try TestBackend(name: "alive", group: group)
        let broken = try TestBackend(name: "broken", behaviour: .resetFirst(1_000), group: group)
        defer { alive.stop(); broken.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(alive.url),\(broken.url)", "--db", folder.database]
                                           + (discardEvents ? ["--discard-events"] : []),
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        for _ in 0..<2 {
            let response = try httpRequest(port: port)
            #expect(response.status == 200)
            #expect(response.text == "alive")
        }
        #expect(broken.requests > 0, "no request went through the broken backend")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)

        let store = try Store(path: folder.database, mode: .existing)
        #expect(try !store.events(EventQuery(kinds: [.shutdown])).isEmpty, "the clean stop was written")
        return try store.events(EventQuery(kinds: [.failure, .retry, .attempt])).count
    }
}
