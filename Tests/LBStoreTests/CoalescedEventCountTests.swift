import Foundation
import Testing
@testable import LBStore

/// A coalesced row (`rejected`, `refused`) stands for `count` occurrences; every reader sums that
/// column, so the numbers stay exact however few rows the storm left.
@Suite struct CoalescedEventCountTests {
    /// Backend a with two plain failures, one coalesced 502 row of a (3 occurrences), two coalesced
    /// 503 rows without a backend (1 000 and 250 occurrences) and a plain 503, all inside 0..<1000 ms.
    static func seed(_ store: Store) throws -> Backend {
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Timestamp(milliseconds: 0))
        func at(_ milliseconds: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds) }
        try store.record(Event(at: at(100), kind: .failure, backendID: a.id, requestID: "f1", detail: "refused"))
        try store.record(Event(at: at(110), kind: .failure, backendID: a.id, requestID: "f2", detail: "refused"))
        try store.record(Event(at: at(120), kind: .rejected, backendID: a.id, requestID: "f1",
                               detail: "502 invalid response from backend",
                               data: EventData(requestIDs: ["f1", "f2"], clients: ["127.0.0.1"], lastAt: 130), count: 3))
        try store.record(Event(at: at(200), kind: .rejected, requestID: "n1", detail: "503 no backend available",
                               data: EventData(requestIDs: ["n1", "n2", "n3", "n4", "n5"], clients: ["127.0.0.1"],
                                               lastAt: 1_190), count: 1_000))
        try store.record(Event(at: at(600), kind: .rejected, requestID: "p1", detail: "503 no backend available"))
        try store.record(Event(at: at(700), kind: .rejected, requestID: "m1", detail: "503 no backend available",
                               data: EventData(requestIDs: ["m1", "m2"], clients: ["10.0.0.1", "10.0.0.2"],
                                               lastAt: 900), count: 250))
        try store.record(Event(at: at(800), kind: .refused, detail: "400 malformed header field name",
                               data: EventData(requestIDs: [], clients: ["10.0.0.9"], lastAt: 950), count: 40))
        return a
    }

    static let window = TimeRange(start: Timestamp(milliseconds: 0), end: Timestamp(milliseconds: 1_000))

    @Test(arguments: StoreEngine.allCases)
    func kindCountsSumTheOccurrencesEachRowStandsFor(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let a = try Self.seed(store)
        let counts = try store.eventCounts(in: Self.window)
        #expect(counts[.rejected] == 3 + 1_000 + 1 + 250)
        #expect(counts[.refused] == 40)
        #expect(counts[.failure] == 2)
        #expect(try store.eventCounts(in: Self.window, backendID: a.id)[.rejected] == 3)
    }

    @Test(arguments: StoreEngine.allCases)
    func auditCountsByBackendAndByDetailPrefixSumTheOccurrences(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let a = try Self.seed(store)
        #expect(try store.eventCountsByBackend(kind: .rejected, in: Self.window) == [a.id: 3])
        #expect(try store.countEvents(kind: .rejected, in: Self.window, detailPrefix: "503") == 1_251)
        #expect(try store.countEvents(kind: .rejected, in: Self.window, detailPrefix: "502") == 3)
        #expect(try store.countEvents(kind: .refused, in: Self.window, detailPrefix: "400") == 40)
    }

    @Test(arguments: StoreEngine.allCases)
    func theHistogramPutsACoalescedRowsWholeCountInTheSliceOfItsFirstOccurrence(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        _ = try Self.seed(store)
        let bins = try store.eventHistogram(kinds: [.rejected], in: Self.window, binCount: 2)
        let balancer = bins.filter { $0.backendID == nil }.sorted { $0.index < $1.index }
        #expect(balancer.map(\.index) == [0, 1])
        #expect(balancer.map(\.count) == [1_000, 251])
        #expect(bins.reduce(0) { $0 + $1.count } == 1_254)
    }

    @Test(arguments: StoreEngine.allCases)
    func requestCountsAddTheUnnamedRequestsOfBackendlessRowsAndNameTheSampledOnes(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        _ = try Self.seed(store)
        let requests = try store.requestIDs(in: Self.window, kinds: [.failure, .retry, .rejected], sampleSize: 20)
        // f1, f2 (failures; the 502 row's samples name them again), 1 000 + 1 + 250 requests that
        // reached no backend.
        #expect(requests.count == 2 + 1_000 + 1 + 250)
        #expect(requests.sample == ["f1", "f2", "n1", "n2", "n3", "n4", "n5", "p1", "m1", "m2"])
        let rejectedOnly = try store.requestIDs(in: Self.window, kinds: [.rejected], sampleSize: 3)
        #expect(rejectedOnly.count == 2 + 1_000 + 1 + 250)
        #expect(rejectedOnly.sample == ["f1", "f2", "n1"])
    }

    @Test(arguments: StoreEngine.allCases)
    func aCoalescedRowReadsBackWithItsCountAndSamples(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        _ = try Self.seed(store)
        let rows = try store.events(EventQuery(range: Self.window, kinds: [.rejected, .refused]))
        #expect(rows.map(\.count) == [3, 1_000, 1, 250, 40])
        let storm = rows[1]
        #expect(storm.requestID == "n1")
        #expect(storm.data?.requestIDs == ["n1", "n2", "n3", "n4", "n5"])
        #expect(storm.data?.clients == ["127.0.0.1"])
        #expect(storm.data?.lastAt == 1_190)
        #expect(rows[2].data == nil)
    }

    @Test func aCoalescedRowThatDoesNotFitTheQueueIsCountedAsTheOccurrencesItStandsFor() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        _ = try Store(path: path)
        let writer = try EventWriter(path: path)
        writer.close()
        #expect(!writer.record(Event(at: .now(), kind: .rejected, detail: "503 no backend available", count: 700)))
        #expect(!writer.record(Event(at: .now(), kind: .failure, detail: "refused")))
        #expect(writer.currentStatistics.dropped == 701)
    }
}
