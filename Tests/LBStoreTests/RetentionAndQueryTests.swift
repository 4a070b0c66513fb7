import Foundation
import Testing
@testable import LBStore

@Suite struct RetentionAndQueryTests {
    @Test func pruneRemovesOnlyWhatIsOlderThanTheCutoffInSmallBatches() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Timestamp(milliseconds: 0))
        let writer = try EventWriter(path: path)
        for index in 0..<2_500 {
            writer.record(Event(at: Timestamp(milliseconds: Int64(index)), kind: .failure, backendID: backend.id))
        }
        for index in 0..<10 {
            // Alternating results: ten runs ending at 0, 100, ... 900 ms.
            writer.record(CheckResult(backendID: backend.id, at: Timestamp(milliseconds: Int64(index) * 100),
                                      passed: index % 2 == 0, latencyMilliseconds: 1))
        }
        #expect(writer.flush())
        writer.close()

        let result = try store.prune(olderThan: Timestamp(milliseconds: 1_000), batchSize: 7)
        // 1 000 failures at 0...999 ms, plus the admin_change event of the add at 0 ms.
        #expect(result.events == 1_001)
        #expect(result.healthRuns == 10)
        let remaining = try store.events(EventQuery())
        // The 1 500 newer failures, and the prune's own marker.
        #expect(remaining.count == 1_501)
        #expect(remaining.first?.at == Timestamp(milliseconds: 1_000))
        let marker = try #require(remaining.last)
        #expect(marker.kind == .prune)
        #expect(marker.data == EventData(actor: "lbctl", cutoff: 1_000, events: 1_001, healthRuns: 10))
        // The backend itself is kept.
        #expect(try store.backends().count == 1)
    }

    @Test(arguments: StoreEngine.allCases)
    func aPruneNeverDeletesItsOwnMarkerEvenWhenTheCutoffIsLaterThanIt(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        for index in 0..<5 {
            try store.record(Event(at: Timestamp(milliseconds: Int64(index) * 1_000), kind: .failure))
        }
        let first = try store.prune(olderThan: Timestamp(milliseconds: 2_500), actor: "alice", command: "lbctl prune",
                                    at: Timestamp(milliseconds: 2_000))
        #expect(first == PruneResult(events: 3, healthRuns: 0))
        // A second prune past everything: the first marker goes with the rest, its own stays.
        let second = try store.prune(olderThan: Timestamp(milliseconds: 10_000), actor: "bob",
                                     at: Timestamp(milliseconds: 9_000))
        #expect(second == PruneResult(events: 3, healthRuns: 0))
        let remaining = try store.events(EventQuery())
        #expect(remaining.map(\.kind) == [.prune])
        #expect(remaining.first?.at == Timestamp(milliseconds: 9_000))
        #expect(remaining.first?.detail == "older than 1970-01-01T00:00:10.000Z: 3 events, 0 health runs by=bob")
        #expect(remaining.first?.data == EventData(actor: "bob", cutoff: 10_000, events: 3, healthRuns: 0))
        #expect(remaining.first?.data?.json == #"{"actor":"bob","cutoff":10000,"events":3,"health_runs":0}"#)
    }

    @Test(arguments: StoreEngine.allCases)
    func eventsAreFilteredByTimeBackendAndKindWithTheNewestKeptUnderALimit(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Timestamp(milliseconds: 0))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: Timestamp(milliseconds: 0))
        for index in 1...100 {
            try store.record(Event(at: Timestamp(milliseconds: Int64(index)), kind: index % 2 == 0 ? .failure : .retry,
                                   backendID: index % 3 == 0 ? a.id : b.id, requestID: "r\(index)", attempt: index % 4))
        }
        let window = TimeRange(start: Timestamp(milliseconds: 10), end: Timestamp(milliseconds: 20))
        let inWindow = try store.events(EventQuery(range: window))
        #expect(inWindow.map(\.at.milliseconds) == Array(10..<20))

        let failuresOfA = try store.events(EventQuery(backendID: a.id, kinds: [.failure]))
        #expect(failuresOfA.allSatisfy { $0.kind == .failure && $0.backendURL == a.url })
        #expect(failuresOfA.count == 16)  // multiples of 6 up to 100

        let newest = try store.events(EventQuery(kinds: [.failure, .retry], limit: 5))
        #expect(newest.map(\.at.milliseconds) == [96, 97, 98, 99, 100])

        let after = try store.events(EventQuery(afterID: newest[3].id))
        #expect(after.map(\.requestID) == ["r100"])

        // A kind name is bound as a value; text that looks like SQL is just a value that matches nothing.
        try store.record(Event(at: Timestamp(milliseconds: 1), kind: .adminChange, detail: "x'); DROP TABLE events; --"))
        #expect(try store.events(EventQuery(kinds: [.adminChange])).contains { $0.detail?.contains("DROP") == true })
        #expect(try store.eventCounts(in: .all)[.failure] == 50)
    }
}
