import Foundation
import Testing
@testable import LBStore

@Suite struct AuditQueryTests {
    /// Two backends; failures, retries and rejections at known milliseconds.
    static func seed(_ store: Store) throws -> (a: Backend, b: Backend) {
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Timestamp(milliseconds: 0))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: Timestamp(milliseconds: 0))
        let rows: [(Int64, EventKind, Int64?, String?, String?)] = [
            (100, .statusChange, a.id, nil, "up->down cause=traffic"),
            (110, .failure, a.id, "r1", "refused"),
            (120, .retry, a.id, "r1", nil),
            (130, .failure, b.id, "r2", "reset"),
            (140, .rejected, nil, "r3", "503 no backend available"),
            (150, .rejected, nil, "r4", "502 bad gateway"),
            (160, .rejected, nil, "r5", "503% odd"),
            (170, .failure, a.id, "r1", "refused again"),
            (300, .statusChange, a.id, nil, "down->up cause=health"),
            (400, .failure, b.id, "r9", "outside"),
        ]
        for (at, kind, backend, request, detail) in rows {
            try store.record(Event(at: Timestamp(milliseconds: at), kind: kind, backendID: backend, requestID: request,
                                   detail: detail))
        }
        return (a, b)
    }

    static let window = TimeRange(start: Timestamp(milliseconds: 105), end: Timestamp(milliseconds: 400))

    @Test func aDaemonsLastSignOfLifeIsItsLatestEventOrCheckBetweenTwoInstants() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Timestamp(milliseconds: 0))
        let identity = InstanceIdentity(name: "lb-a", host: "h", pid: 1, listen: "127.0.0.1:8080", version: "test")
        let writer = try EventWriter(path: path, instance: identity)
        writer.record(Event(at: Timestamp(milliseconds: 100), kind: .failure, backendID: backend.id))
        for at in [150, 250, 900] as [Int64] {
            writer.record(CheckResult(backendID: backend.id, at: Timestamp(milliseconds: at), passed: true, latencyMilliseconds: 1))
        }
        #expect(writer.flush())
        writer.close()
        // lbctl's own rows name no instance and say nothing of a daemon.
        try store.setAdminState(.drained, url: backend.url, actor: "alice", at: Timestamp(milliseconds: 500))

        func last(_ instance: String?, _ start: Int64, _ end: Int64) throws -> Int64? {
            try store.lastActivity(of: instance, after: Timestamp(milliseconds: start), before: Timestamp(milliseconds: end))?
                .milliseconds
        }
        // The checks make one run, 150 to 900, which counts by its last check.
        #expect(try last("lb-a", 0, 120) == 100)
        #expect(try last("lb-a", 0, 1_000) == 900)
        #expect(try last("lb-b", 0, 1_000) == nil)
        #expect(try last(nil, 0, 1_000) == nil)
    }

    @Test(arguments: StoreEngine.allCases)
    func countsPerBackendAndByDetailPrefixStayInsideTheWindow(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let (a, b) = try Self.seed(store)
        #expect(try store.eventCountsByBackend(kind: .failure, in: Self.window) == [a.id: 2, b.id: 1])
        #expect(try store.countEvents(kind: .rejected, in: Self.window, detailPrefix: "503") == 2)
        // The prefix is matched as typed: % is not a wildcard.
        #expect(try store.countEvents(kind: .rejected, in: Self.window, detailPrefix: "503%") == 1)
        #expect(try store.countEvents(kind: .rejected, in: Self.window, detailPrefix: "5_3") == 0)
    }

    @Test(arguments: StoreEngine.allCases)
    func firstLastAndLatestBeforeFindTheRightEvents(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let (a, b) = try Self.seed(store)
        #expect(try store.firstEvent(kind: .failure, in: Self.window)?.detail == "refused")
        #expect(try store.lastEvent(kind: .failure, in: Self.window)?.detail == "refused again")
        #expect(try store.firstEvent(kind: .shutdown, in: Self.window) == nil)
        let before = try store.latestEvent(kind: .statusChange, backendID: a.id, before: Timestamp(milliseconds: 105))
        #expect(before?.detail == "up->down cause=traffic")
        #expect(before?.backendURL == a.url)
        #expect(try store.latestEvent(kind: .statusChange, backendID: b.id, before: Timestamp(milliseconds: 1_000)) == nil)
        #expect(try store.latestEvent(kind: .statusChange, backendID: a.id, before: Timestamp(milliseconds: 100)) == nil)
    }

    @Test(arguments: StoreEngine.allCases)
    func requestIDsAreCountedOnceAndSampledInOrderOfFirstAppearance(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        _ = try Self.seed(store)
        let all = try store.requestIDs(in: Self.window, kinds: [.failure, .retry, .rejected], sampleSize: 10)
        #expect(all == RequestIDSample(count: 5, sample: ["r1", "r2", "r3", "r4", "r5"]))
        let two = try store.requestIDs(in: Self.window, kinds: [.rejected], sampleSize: 2)
        #expect(two == RequestIDSample(count: 3, sample: ["r3", "r4"]))
        #expect(try store.requestIDs(in: Self.window, kinds: [], sampleSize: 2).count == 0)
    }

    @Test(arguments: StoreEngine.allCases)
    func theHistogramCountsEachBackendAndKindPerSlice(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let (a, b) = try Self.seed(store)
        // Slices of 50 ms from 100 ms: [100,150) and [150,200).
        let range = TimeRange(start: Timestamp(milliseconds: 100), end: Timestamp(milliseconds: 200))
        let bins = Set(try store.eventHistogram(kinds: [.failure, .rejected], in: range, binCount: 2))
        #expect(bins == [
            EventBin(backendID: a.id, kind: .failure, index: 0, count: 1),
            EventBin(backendID: b.id, kind: .failure, index: 0, count: 1),
            EventBin(backendID: nil, kind: .rejected, index: 0, count: 1),
            EventBin(backendID: nil, kind: .rejected, index: 1, count: 2),
            EventBin(backendID: a.id, kind: .failure, index: 1, count: 1),
        ])
        #expect(try store.eventHistogram(kinds: [.failure], in: TimeRange(start: range.start, end: range.start),
                                         binCount: 4).isEmpty)
    }

    @Test(arguments: StoreEngine.allCases)
    func theTailAfterAnIDIsFilteredAndInIDOrder(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let (a, _) = try Self.seed(store)
        let all = try store.events(EventQuery())
        let cut = try #require(all.first { $0.at.milliseconds == 120 }).id
        let tail = try store.events(after: cut, matching: EventQuery(backendID: a.id, kinds: [.failure, .statusChange]))
        #expect(tail.map(\.detail) == ["refused again", "down->up cause=health"])
        #expect(tail.map(\.id) == tail.map(\.id).sorted())
        #expect(try store.events(after: cut, matching: EventQuery(), limit: 2).count == 2)
    }
}
