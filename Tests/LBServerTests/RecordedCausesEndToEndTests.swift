import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// What the daemon records about why health changed, and how it treats restored state.
@Suite(.serialized) struct RecordedCausesEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func aTrafficMarkDownCarriesEachFailedTryOfTheRequestAsEvidence() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database,
                                                  "--health-interval", "1m"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        b.stop()
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<4 { #expect(try connection.request().status == 200) }
        let backendB = try #require(try store.backend(url: b.url))
        #expect(waitUntil { ((try? store.events(EventQuery(backendID: backendB.id, kinds: [.statusChange])))?.count ?? 0) >= 2 })
        let change = try #require(try store.events(EventQuery(backendID: backendB.id, kinds: [.statusChange]))
            .first { $0.data?.to == "down" })
        let data = try #require(change.data)
        #expect(data.cause == .traffic)
        #expect(data.from == "up")
        #expect(data.threshold == 4)
        let evidence = try #require(data.evidence)
        #expect(evidence.count == 4)
        #expect(evidence.allSatisfy { $0.source == .request && $0.requestID == change.requestID && $0.error == "connection refused" })
        #expect(evidence.map(\.attempt) == [1, 2, 3, 4])
    }

    @Test func aCheckMarkDownCarriesTheResultsThatCrossedTheFallThreshold() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database, "--health-interval", "100ms",
                                                  "--fall", "3", "--rise", "2", "--health-down-interval", "100ms"],
                                       folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().first?.health) == .up })
        a.stop()
        #expect(waitUntil { (try? store.backends().first?.health) == .down })
        try a.restart()
        #expect(waitUntil { (try? store.backends().first?.health) == .up })
        let changes = try store.events(EventQuery(kinds: [.statusChange]))
        let down = try #require(changes.first { $0.data?.to == "down" }?.data)
        #expect(down.cause == .check && down.threshold == 3)
        #expect(down.evidence?.count == 3)
        #expect(down.evidence?.allSatisfy { $0.source == .check && $0.error == "connection refused" && $0.latencyMs != nil } == true)
        let up = try #require(changes.last?.data)
        #expect(up.to == "up" && up.cause == .check && up.threshold == 2)
        #expect(up.evidence?.count == 2 && up.evidence?.allSatisfy { $0.error == nil } == true)
    }

    @Test func freshStateIsRoutedOnAtOnceAndTheRestoreIsRecordedWithItsAge() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        b.stop()
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database, "--health-interval", "1m",
                         "--health-down-interval", "1m"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backend(url: b.url)?.health) == .down })
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)

        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        let port = try second.waitUntilListening()
        #expect(try (0..<4).allSatisfy { _ in try httpRequest(port: port).text == "a" })
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let startup = try #require(try store.events(EventQuery(kinds: [.startup])).last?.data)
        #expect(startup.path == "fresh")
        #expect((startup.stateAgeMs ?? -1) >= 0 && (startup.stateAgeMs ?? .max) < 60_000)
        let restore = try #require(try store.events(EventQuery(kinds: [.statusChange])).last { $0.data?.cause == .restore })
        #expect(restore.backendURL == b.url && restore.data?.to == "down" && restore.data?.stateAgeMs != nil)
    }

    @Test func afterAStaleRestartNoRequestIsTriedAgainstABackendThatDiedMeanwhile() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database, "--health-interval", "1m",
                         "--state-max-age", "1s"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        // b dies while the daemon is stopped, and the saved state grows older than a second.
        b.stop()
        let stoppedAt = ContinuousClock.now
        #expect(!waitUntil(timeout: .milliseconds(1_300)) { ContinuousClock.now - stoppedAt > .seconds(2) })
        let failuresBefore = try store.events(EventQuery(kinds: [.failure])).count

        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        let port = try second.waitUntilListening()
        // The very first requests already avoid b: the check round ran before the listener opened.
        #expect(try (0..<6).allSatisfy { _ in try httpRequest(port: port).text == "a" })
        #expect(try store.events(EventQuery(kinds: [.failure])).count == failuresBefore)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let startup = try #require(try store.events(EventQuery(kinds: [.startup])).last?.data)
        #expect(startup.path == "stale")
        #expect((startup.stateAgeMs ?? 0) >= 1_000)
        let downB = try #require(try store.events(EventQuery(kinds: [.statusChange])).last { $0.backendURL == b.url })
        #expect(downB.data?.cause == .check && downB.data?.to == "down")
        // Found down by the start's check round, and named so: nothing was restored.
        let detail = try #require(try store.events(EventQuery(kinds: [.startup])).last?.detail)
        #expect(detail.contains("checked_down=\(b.url)") && !detail.contains("restored_down"), "\(detail)")
    }

    @Test func aRestoredDownPeriodSaysThatTrafficCausedIt() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database, "--health-interval", "1m",
                         "--health-down-interval", "1m"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        let port = try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        b.stop()
        for _ in 0..<4 { #expect(try httpRequest(port: port).status == 200) }
        #expect(waitUntil { (try? store.backend(url: b.url)?.health) == .down })
        let markDown = try #require(try store.events(EventQuery(kinds: [.statusChange])).last { $0.backendURL == b.url })
        #expect(markDown.data?.cause == .traffic)
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)

        // Twice: a restore of a restore still names the traffic that took it down.
        for _ in 0..<2 {
            let next = try ServerProcess(lbserver: arguments, folder: folder.url)
            try next.waitUntilListening()
            #expect(waitUntil {
                (try? store.events(EventQuery(kinds: [.statusChange])).last { $0.backendURL == b.url }?.data?.cause) == .restore
            })
            let restore = try #require(try store.events(EventQuery(kinds: [.statusChange])).last { $0.backendURL == b.url })
            #expect(restore.detail?.contains("(by traffic)") == true, "\(restore.detail ?? "")")
            let evidence = try #require(restore.data?.evidence?.first)
            #expect(evidence.source == .request && evidence.requestID == markDown.requestID)
            #expect(evidence.error?.contains("traffic: 4 failed tries") == true, "\(evidence.error ?? "")")
            next.signal(SIGTERM)
            #expect(next.waitForExit() == 0)
        }
    }

    @Test func theConfigFileWinsAFieldOnlyWhenItChangesThatField() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        func writeConfig(_ aWeight: Int, includeB: Bool) throws {
            try """
                backends:
                  - { url: \(a.url), weight: \(aWeight) }
                \(includeB ? "  - \(b.url)" : "")
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        func runOnce(_ body: () throws -> Void) throws {
            let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database, "--health-interval", "1m"],
                                           folder: folder.url)
            defer { server.stop() }
            try server.waitUntilListening()
            try body()
            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0)
        }
        let store = try Store(path: folder.database, mode: .create)
        try writeConfig(2, includeB: true)
        try runOnce {}
        // An operator raises a's weight and adds c at run time.
        #expect(try runProduct("lbctl", ["weight", a.url, "9", "--db", folder.database], folder: folder.url).status == 0)
        #expect(try runProduct("lbctl", ["add", c.url, "--db", folder.database], folder: folder.url).status == 0)
        // Same file: the operator's weight holds; c (runtime) stays.
        try runOnce {}
        #expect(try store.backend(url: a.url)?.weight == 9)
        #expect(try store.backends().map(\.url) == [a.url, b.url, c.url])
        var startup = try #require(try store.events(EventQuery(kinds: [.startup])).last?.data)
        #expect(startup.differences == [ConfigDifference(url: a.url, field: .weight, config: "2", runtime: "9", winner: .runtime)])
        // The file changes a's weight and drops b: the file wins that field, b goes, c stays.
        try writeConfig(3, includeB: false)
        try runOnce {}
        #expect(try store.backend(url: a.url)?.weight == 3)
        #expect(try store.backends().map(\.url) == [a.url, c.url])
        #expect(try store.backends().map(\.origin) == [.config, .runtime])
        startup = try #require(try store.events(EventQuery(kinds: [.startup])).last?.data)
        #expect(Set((startup.differences ?? []).map { "\($0.url) \($0.field) \($0.winner)" })
                == ["\(a.url) weight config", "\(b.url) registered config"])
    }
}
