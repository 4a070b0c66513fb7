import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// A run of equal check results ends when checking stops (the daemon stopped, the backend
/// disabled or removed): the health history never stretches a run over time nobody checked.
@Suite(.serialized) struct HealthHistoryGapsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private func runs(_ store: Store, _ url: String) throws -> [HealthRun] {
        let backend = try #require(try store.backend(url: url))
        return try store.healthHistory(backendID: backend.id, in: .all).runs.sorted { $0.firstAt < $1.firstAt }
    }

    /// Whether some run covers the stretch from `start` to `end` in part.
    private func covered(_ runs: [HealthRun], from start: Timestamp, to end: Timestamp) -> Bool {
        runs.contains { $0.firstAt < end && $0.lastAt > start }
    }

    @Test func aStoppedDaemonsChecksEndTheirRunAndTheNextStartBeginsAnother() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let arguments = ["--backends", a.url, "--db", folder.database, "--health-interval", "100ms"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? runs(store, a.url))?.first?.count ?? 0) >= 3 })
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        let stopped = Timestamp.now()
        Thread.sleep(forTimeInterval: 1.2)
        let restarted = Timestamp.now()

        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        try second.waitUntilListening()
        #expect(waitUntil { ((try? runs(store, a.url))?.last.map { $0.firstAt >= restarted && $0.count >= 3 }) == true })
        let all = try runs(store, a.url)
        #expect(all.count == 2 && all.allSatisfy(\.passed))
        #expect(!covered(all, from: stopped, to: restarted), "\(all)")
        // Uptime and checks count only what was checked.
        let backend = try #require(try store.backend(url: a.url))
        let history = try store.healthHistory(backendID: backend.id, in: .all)
        #expect(history.checks == all.reduce(0) { $0 + $1.count })
    }

    @Test func aDisabledBackendsRunEndsAndEnablingItStartsAnother() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database,
                                                  "--health-interval", "100ms"], folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? runs(store, b.url))?.first?.count ?? 0) >= 3 })
        try store.setAdminState(.disabled, url: b.url, actor: "test")
        // Its checks stop once the daemon has read the change (a poll is 250 ms).
        #expect(waitUntil {
            guard let first = try? runs(store, b.url).first else { return false }
            return Timestamp.now().milliseconds - first.lastAt.milliseconds > 600
        })
        let disabledFrom = try #require(try runs(store, b.url).first?.lastAt)
        Thread.sleep(forTimeInterval: 0.8)
        let enabledAt = Timestamp.now()
        try store.setAdminState(.enabled, url: b.url, actor: "test")
        #expect(waitUntil { ((try? runs(store, b.url))?.count ?? 0) == 2 })
        let all = try runs(store, b.url)
        #expect(all[1].firstAt > enabledAt)
        #expect(!covered(all, from: disabledFrom.adding(milliseconds: 1), to: enabledAt), "\(all)")
        // a was checked all along, in one run.
        #expect(try runs(store, a.url).count == 1)
    }
}
