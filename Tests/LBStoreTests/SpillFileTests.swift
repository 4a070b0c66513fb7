import Foundation
import Synchronization
import Testing
@testable import LBStore

/// A writer closed while its database cannot be written keeps what it holds in `DATABASE-spill`,
/// and the next writer on that database commits it before anything else.
@Suite struct SpillFileTests {
    private static let quick = EventWriter.Configuration(maximumDelay: .milliseconds(1), retryDelay: .milliseconds(10),
                                                         maximumRetryDelay: .milliseconds(50),
                                                         busyTimeoutMilliseconds: 10)

    @Test func aCloseDuringALockSpillsEveryKindOfRecordAndTheNextWriterCommitsThemFirst() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let backend = try Store(path: path).addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let errors = Atomic<Int>(0)
        let identity = InstanceIdentity(name: "lb-a", host: "h", pid: 1, listen: "127.0.0.1:1", version: "t")
        let writer = try EventWriter(path: path, instance: identity, configuration: Self.quick,
                                     onError: { _ in errors.add(1, ordering: .relaxed) })
        let locker = try SQLiteConnection(path: path, mode: .readWrite)
        try locker.execute("BEGIN EXCLUSIVE")
        let base = Timestamp(milliseconds: 1_700_000_000_000)
        for index in 0..<300 {
            _ = writer.record(Event(at: base.adding(milliseconds: Int64(index)), kind: .failure, backendID: backend.id,
                                    requestID: "r\(index)", attempt: 1, detail: "connection refused",
                                    data: EventData(via: "HTTP/1.1")))
        }
        _ = writer.record(CheckResult(backendID: backend.id, at: base, passed: false, latencyMilliseconds: 1.5,
                                      error: "connection refused"))
        _ = writer.recordHealth(backendID: backend.id, health: .down, since: base)
        _ = writer.recordCursor(7, at: base)
        _ = writer.record(Event(at: base.adding(milliseconds: 400), kind: .shutdown, detail: "clean stop"))
        _ = writer.recordCleanStop(at: base.adding(milliseconds: 400))
        #expect(waitUntil { errors.load(ordering: .relaxed) > 0 })
        // The batch held for its next try is counted as queued.
        #expect(writer.currentStatistics.pending == 305)
        writer.close()
        let statistics = writer.currentStatistics
        #expect(statistics.spilled == 306, "the records and the outage's account")
        #expect(statistics.dropped == 0 && statistics.pending == 0)
        let spill = path + "-spill"
        #expect(FileManager.default.fileExists(atPath: spill))
        try locker.execute("COMMIT")
        locker.close()
        #expect(try Store(path: path).events(EventQuery(kinds: [.failure, .shutdown, .storeError])).isEmpty)

        let next = try EventWriter(path: path, instance: identity, configuration: Self.quick)
        let recovered = try #require(next.recoveredFromSpill)
        #expect(recovered.records == 306 && recovered.committed)
        #expect(!FileManager.default.fileExists(atPath: spill))
        // Committed in `init`, before the next writer's caller reads anything.
        let store = try Store(path: path)
        let events = try store.events(EventQuery())
        let failures = events.filter { $0.kind == .failure }
        // The outage's account first (by row; by time it is the stop's), then the records in order.
        let outage = try #require(events.first { $0.kind == .storeError })
        #expect(outage.detail?.contains("kept in \(spill)") == true)
        #expect(outage.id < (failures.first?.id ?? 0))
        #expect(failures.map(\.requestID) == (0..<300).map { "r\($0)" })
        #expect(failures.allSatisfy { $0.instance == "lb-a" && $0.data?.via == "HTTP/1.1" && $0.attempt == 1 })
        #expect(events.filter { $0.kind == .shutdown }.count == 1)
        #expect(try store.backend(url: "http://127.0.0.1:9001")?.health == .down)
        let state = try store.balancerState()
        #expect(state.cursor == 7)
        #expect(state.lastCleanStop == base.adding(milliseconds: 400))
        #expect(try store.healthHistory(backendID: backend.id, in: .all).runs.first?.lastError == "connection refused")
        next.close()
    }

    @Test func aSpillTheNextStartCannotWriteIsItsFirstBatchAndIsNotKeptTwice() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        _ = try Store(path: path)
        let locker = try SQLiteConnection(path: path, mode: .readWrite)
        try locker.execute("BEGIN EXCLUSIVE")
        let first = try EventWriter(path: path, configuration: Self.quick)
        for index in 0..<10 { _ = first.record(Event(at: Timestamp(milliseconds: Int64(index)), kind: .retry)) }
        first.close()
        #expect(first.currentStatistics.spilled == 11)

        // Still locked at the next start: nothing is lost, and a second close keeps each record once.
        let second = try EventWriter(path: path, configuration: Self.quick)
        #expect(second.recoveredFromSpill?.committed == false)
        _ = second.record(Event(at: Timestamp(milliseconds: 100), kind: .attempt))
        second.close()
        let third = try EventWriter(path: path, configuration: Self.quick)
        #expect(third.recoveredFromSpill?.committed == false)
        #expect(third.recoveredFromSpill?.records == 13, "10 retries, an attempt and two outage accounts")

        // The lock goes: the writer's first batch is the spill, and the file goes with it.
        try locker.execute("COMMIT")
        locker.close()
        #expect(third.flush())
        #expect(!FileManager.default.fileExists(atPath: path + "-spill"))
        third.close()
        let counts = try Store(path: path).eventCounts(in: .all)
        #expect(counts[.retry] == 10 && counts[.attempt] == 1)
    }

    @Test func aSpillOfAnotherDatabaseFileIsKeptAsideNotWrittenIntoTheNewOne() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let backend = try Store(path: path).addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let locker = try SQLiteConnection(path: path, mode: .readWrite)
        try locker.execute("BEGIN EXCLUSIVE")
        let first = try EventWriter(path: path, configuration: Self.quick)
        _ = first.record(Event(at: .now(), kind: .failure, backendID: backend.id, detail: "connection refused"))
        first.close()
        #expect(first.currentStatistics.spilled >= 1)
        try locker.execute("COMMIT")
        locker.close()
        // The database is deleted and made anew: its backend ids are not the spilled ones'.
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        _ = try Store(path: path).addBackend(url: "http://127.0.0.1:9999", actor: "t")
        let reported = Mutex<[String]>([])
        let next = try EventWriter(path: path, onError: { error in reported.withLock { $0.append(error.message) } })
        next.close()
        #expect(next.recoveredFromSpill == nil)
        #expect(try Store(path: path).events(EventQuery(kinds: [.failure])).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path(""))
                .filter { $0.contains("-spill.other-database-") }.count == 1)
        #expect(reported.withLock { $0.contains { $0.contains("belongs to another database file") } })
    }

    @Test func anUnreadableSpillFileIsMovedAsideAndReportedNeverOverwritten() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        _ = try Store(path: path)
        try Data("not a spill file\n".utf8).write(to: URL(fileURLWithPath: path + "-spill"))
        let reported = Mutex<[String]>([])
        let writer = try EventWriter(path: path, onError: { error in reported.withLock { $0.append(error.message) } })
        writer.close()
        #expect(writer.recoveredFromSpill == nil)
        #expect(!FileManager.default.fileExists(atPath: path + "-spill"))
        let aside = try FileManager.default.contentsOfDirectory(atPath: folder.path("")).filter { $0.contains("-spill.unreadable-") }
        #expect(aside.count == 1)
        #expect(reported.withLock { $0.contains { $0.contains("cannot be read") } })
    }
}
