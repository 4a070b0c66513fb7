import LBStore
import Logging
import NIOPosix
import Testing
@testable import LBServer

/// `EventSink` with a real writer and database: coalesced answers reach the file with their exact
/// count, by the flush timer or by the stop, and `--discard-events` still writes none.
@Suite struct EventSinkCoalescingTests {
    @Test func mergedAnswersReachTheDatabaseByTheTimerWithoutAnotherOccurrence() throws {
        let folder = try TemporaryFolder()
        let writer = try EventWriter(path: folder.database)
        defer { writer.close() }
        let sink = EventSink(writer: writer, logger: Logger(label: "test"),
                             flushLoop: MultiThreadedEventLoopGroup.singleton.next())
        for index in 0..<1_000 {
            sink.rejected(status: 503, requestID: "r\(index)", backend: nil, reason: "no backend available",
                          clientAddress: "127.0.0.1")
        }
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil(timeout: .seconds(5)) { (try? store.eventCounts(in: .all)[.rejected]) == 1_000 })
        let rows = try store.events(EventQuery(kinds: [.rejected]))
        #expect(rows.count >= 2 && rows.count <= 4, "rows: \(rows.count)")
        #expect(rows.first?.requestID == "r0")
        #expect(rows.allSatisfy { $0.data?.clients == ["127.0.0.1"] && $0.detail == "503 no backend available" })
    }

    @Test func theStopWritesWhatIsStillMergedSoNoCountIsLost() throws {
        let folder = try TemporaryFolder()
        let writer = try EventWriter(path: folder.database)
        // No timer: only the stop can write the merged occurrences.
        let sink = EventSink(writer: writer, logger: Logger(label: "test"))
        for _ in 0..<10 { sink.refused(status: 400, reason: "bare LF in the head", requestID: nil, clientAddress: "10.1.2.3") }
        for index in 0..<5 {
            sink.rejected(status: 502, requestID: "p\(index)", backend: nil, reason: "invalid response from backend")
        }
        sink.flushCoalesced()
        writer.close()
        let store = try Store(path: folder.database, mode: .existing)
        let counts = try store.eventCounts(in: .all)
        #expect(counts[.refused] == 10)
        #expect(counts[.rejected] == 5)
        let refused = try store.events(EventQuery(kinds: [.refused]))
        #expect(refused.map(\.count) == [1, 9])
        #expect(refused.allSatisfy { $0.data?.clients == ["10.1.2.3"] && $0.requestID == nil })
    }

    @Test func discardedEventsAreNeitherMergedNorWritten() throws {
        let folder = try TemporaryFolder()
        let writer = try EventWriter(path: folder.database)
        let sink = EventSink(writer: writer, logger: Logger(label: "test"), discardsEvents: true)
        for _ in 0..<100 {
            sink.rejected(status: 503, requestID: "r", backend: nil, reason: "no backend available")
            sink.refused(status: 408, reason: "the request head did not arrive in time", requestID: nil, clientAddress: "c")
        }
        sink.flushCoalesced()
        writer.close()
        let counts = try Store(path: folder.database, mode: .existing).eventCounts(in: .all)
        #expect(counts[.rejected] == nil && counts[.refused] == nil)
    }
}
