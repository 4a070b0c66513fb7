import LBStore
import Testing
@testable import LBServer

/// `EventCoalescer` as a plain value with a made-up clock: what comes by the thousand becomes at
/// most one row per second per key, and every occurrence is in exactly one row.
@Suite struct EventCoalescerTests {
    static let noBackend = EventCoalescer.Key(kind: .rejected, backendID: nil, status: 503, reason: "no backend available")

    static func at(_ milliseconds: Int64) -> Timestamp { Timestamp(milliseconds: 1_700_000_000_000 + milliseconds) }

    /// The rows of an outcome, for summing.
    static func rows(_ outcome: EventCoalescer.Outcome) -> [Event] {
        if case .write(let event) = outcome { return [event] }
        return []
    }

    @Test func theFirstOccurrenceIsWrittenAtOnceAndTheRestOfItsSecondWaitsForTheFlush() throws {
        var coalescer = EventCoalescer()
        let first = coalescer.add(Self.noBackend, at: Self.at(0), requestID: "r0", client: "127.0.0.1")
        let row = try #require(Self.rows(first).first)
        #expect(row.count == 1 && row.requestID == "r0" && row.at == Self.at(0))
        #expect(row.detail == "503 no backend available" && row.kind == .rejected && row.backendID == nil)
        #expect(row.data?.clients == ["127.0.0.1"])
        #expect(coalescer.add(Self.noBackend, at: Self.at(10), requestID: "r1", client: "127.0.0.1")
                == .mergedFlushDue(Self.at(1_000)))
        for index in 2..<100 {
            #expect(coalescer.add(Self.noBackend, at: Self.at(Int64(index * 9)), requestID: "r\(index)",
                                  client: "127.0.0.1") == .merged)
        }
        #expect(coalescer.pendingCount == 99)
        #expect(coalescer.flushDue(at: Self.at(999)).rows.isEmpty)
        let (rows, next) = coalescer.flushDue(at: Self.at(1_000))
        #expect(next == nil)
        let merged = try #require(rows.first)
        #expect(rows.count == 1)
        #expect(merged.count == 99)
        #expect(merged.at == Self.at(10))
        #expect(merged.requestID == "r1")
        #expect(merged.data?.requestIDs == ["r1", "r2", "r3", "r4", "r5"])
        #expect(merged.data?.lastAt == Self.at(99 * 9).milliseconds)
        #expect(coalescer.pendingCount == 0)
    }

    @Test func tenThousandOccurrencesInFiveSecondsMakeAtMostOneRowPerSecondWithTheExactTotal() {
        var coalescer = EventCoalescer()
        var written: [(at: Timestamp, row: Event)] = []
        var flushAt: Timestamp?
        for index in 0..<10_000 {
            let now = Self.at(Int64(index) / 2)
            // The flush the coalescer asked for runs when its time comes, as the sink's timer would.
            if let due = flushAt, due <= now {
                let flushed = coalescer.flushDue(at: now)
                written += flushed.rows.map { (now, $0) }
                flushAt = flushed.next
            }
            let outcome = coalescer.add(Self.noBackend, at: now, requestID: "r\(index)", client: "10.0.0.\(index % 7)")
            written += Self.rows(outcome).map { (now, $0) }
            if case .mergedFlushDue(let due) = outcome { flushAt = due }
        }
        let rows = written.map(\.row) + coalescer.flushAll()
        #expect(rows.reduce(0) { $0 + $1.count } == 10_000)
        #expect(rows.count <= 6, "rows: \(rows.count)")
        let times = written.map(\.at.milliseconds)
        for (earlier, later) in zip(times, times.dropFirst()) { #expect(later - earlier >= 1_000) }
        #expect(rows.allSatisfy { ($0.data?.clients?.count ?? 0) <= 5 && ($0.data?.requestIDs?.count ?? 0) <= 5 })
    }

    @Test func kindsReasonsAndBackendsAreCoalescedSeparately() {
        var coalescer = EventCoalescer()
        let keys = [
            Self.noBackend,
            EventCoalescer.Key(kind: .rejected, backendID: nil, status: 504, reason: "all attempts failed: timeout"),
            EventCoalescer.Key(kind: .rejected, backendID: 7, status: 502, reason: "invalid response from backend"),
            EventCoalescer.Key(kind: .rejected, backendID: 8, status: 502, reason: "invalid response from backend"),
            EventCoalescer.Key(kind: .refused, backendID: nil, status: 503, reason: "no backend available"),
            // The same status and reason length hash alike; equality keeps them apart.
            EventCoalescer.Key(kind: .rejected, backendID: nil, status: 503, reason: "no backend availablE"),
        ]
        var rows: [Event] = []
        for round in 0..<3 {
            for key in keys {
                rows += Self.rows(coalescer.add(key, at: Self.at(Int64(round)), requestID: nil, client: "c"))
            }
        }
        #expect(rows.count == keys.count)
        rows += coalescer.flushDue(at: Self.at(1_000)).rows
        #expect(rows.count == 2 * keys.count)
        for key in keys {
            let mine = rows.filter { $0.kind == key.kind && $0.backendID == key.backendID && $0.detail == key.detail }
            #expect(mine.map(\.count) == [1, 2])
        }
    }

    @Test func samplesKeepTheFirstFiveRequestIDsAndFiveDistinctClients() {
        var coalescer = EventCoalescer()
        _ = coalescer.add(Self.noBackend, at: Self.at(0), requestID: "first", client: "a")
        let clients = ["a", "a", "b", "a", "c", "d", "e", "f", "g"]
        for (index, client) in clients.enumerated() {
            _ = coalescer.add(Self.noBackend, at: Self.at(1), requestID: index == 0 ? nil : "r\(index)", client: client)
        }
        let row = coalescer.flushAll().first
        #expect(row?.count == clients.count)
        #expect(row?.requestID == "r1")
        #expect(row?.data?.requestIDs == ["r1", "r2", "r3", "r4", "r5"])
        #expect(row?.data?.clients == ["a", "b", "c", "d", "e"])
    }

    @Test func aQuietSecondMakesTheNextOccurrenceARowAtOnceAndTheKeyIsForgotten() {
        var coalescer = EventCoalescer()
        #expect(Self.rows(coalescer.add(Self.noBackend, at: Self.at(0), requestID: "a", client: nil)).count == 1)
        #expect(coalescer.flushDue(at: Self.at(1_500)) == ([], nil))
        #expect(Self.rows(coalescer.add(Self.noBackend, at: Self.at(1_600), requestID: "b", client: nil)).count == 1)
        // Merged after the row at 1 600; its own next occurrence, once the second is over, carries it.
        _ = coalescer.add(Self.noBackend, at: Self.at(1_700), requestID: "c", client: nil)
        let carried = Self.rows(coalescer.add(Self.noBackend, at: Self.at(2_600), requestID: "d", client: nil))
        #expect(carried.map(\.count) == [2])
        #expect(carried.first?.at == Self.at(1_700))
        #expect(carried.first?.data?.lastAt == Self.at(2_600).milliseconds)
    }

    @Test func oneFlushIsAskedForAtATimeAndItNamesTheNextOneWhileAnythingIsMerged() {
        var coalescer = EventCoalescer()
        let other = EventCoalescer.Key(kind: .refused, backendID: nil, status: 400, reason: "bare LF in the head")
        _ = coalescer.add(Self.noBackend, at: Self.at(0), requestID: nil, client: nil)
        _ = coalescer.add(other, at: Self.at(400), requestID: nil, client: nil)
        #expect(coalescer.add(Self.noBackend, at: Self.at(500), requestID: nil, client: nil) == .mergedFlushDue(Self.at(1_000)))
        #expect(coalescer.add(other, at: Self.at(600), requestID: nil, client: nil) == .merged)
        let first = coalescer.flushDue(at: Self.at(1_000))
        #expect(first.rows.map(\.detail) == ["503 no backend available"])
        #expect(first.next == Self.at(1_400))
        #expect(coalescer.add(Self.noBackend, at: Self.at(1_100), requestID: nil, client: nil) == .merged)
        let second = coalescer.flushDue(at: Self.at(1_400))
        #expect(second.rows.map(\.detail) == ["400 bare LF in the head"])
        #expect(second.next == Self.at(2_000))
    }

    @Test func aWallClockSteppedBackDoesNotHoldMergedRowsBack() {
        var coalescer = EventCoalescer()
        _ = coalescer.add(Self.noBackend, at: Self.at(10_000), requestID: nil, client: nil)
        _ = coalescer.add(Self.noBackend, at: Self.at(10_100), requestID: nil, client: nil)
        let rows = coalescer.flushDue(at: Self.at(0)).rows
        #expect(rows.map(\.count) == [1])
    }

    @Test func afterFlushAllEveryOccurrenceIsItsOwnRow() {
        var coalescer = EventCoalescer()
        _ = coalescer.add(Self.noBackend, at: Self.at(0), requestID: nil, client: nil)
        _ = coalescer.add(Self.noBackend, at: Self.at(1), requestID: nil, client: nil)
        _ = coalescer.add(Self.noBackend, at: Self.at(2), requestID: nil, client: nil)
        #expect(coalescer.flushAll().map(\.count) == [2])
        #expect(coalescer.isClosed)
        #expect(Self.rows(coalescer.add(Self.noBackend, at: Self.at(3), requestID: "late", client: nil)).map(\.count) == [1])
        #expect(coalescer.flushAll().isEmpty)
    }

    @Test func keysBeyondTheLimitAreWrittenOneRowPerOccurrenceRatherThanHeld() {
        var coalescer = EventCoalescer(maximumKeys: 2)
        var rows: [Event] = []
        for round in 0..<2 {
            for reason in ["a", "b", "c"] {
                let key = EventCoalescer.Key(kind: .refused, backendID: nil, status: 400, reason: "\(reason)")
                rows += Self.rows(coalescer.add(key, at: Self.at(Int64(round)), requestID: nil, client: nil))
            }
        }
        #expect(rows.map(\.detail) == ["400 a", "400 b", "400 c", "400 c"])
        #expect(coalescer.flushAll().count == 2)
    }
}
