import Foundation
import Synchronization
import Testing
@testable import LBStore

@Suite struct EventWriterTests {
    @Test func a100000EventBurstIsCommittedInBatchesWithNothingLost() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let backend = try Store(path: path).addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let writer = try EventWriter(path: path)
        let base = Timestamp(milliseconds: 1_700_000_000_000)
        // Two producer threads, as two event loops would be.
        let accepted = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 2) { producer in
            for index in 0..<50_000 {
                let event = Event(at: base.adding(milliseconds: Int64(index)), kind: .attempt, backendID: backend.id,
                                  requestID: "r\(producer)-\(index)", attempt: 1)
                if writer.record(event) { accepted.add(1, ordering: .relaxed) }
            }
        }
        #expect(writer.flush())
        let statistics = writer.currentStatistics
        writer.close()
        #expect(accepted.load(ordering: .relaxed) == 100_000)
        #expect(statistics.dropped == 0)
        #expect(statistics.written == 100_000)
        #expect(statistics.batches > 1 && statistics.batches < 1_000, "batches: \(statistics.batches)")

        let store = try Store(path: path)
        let events = try store.events(EventQuery(kinds: [.attempt]))
        #expect(events.count == 100_000)
        #expect(Set(events.compactMap(\.requestID)).count == 100_000)
        #expect(try store.eventCounts(in: .all)[.dropped] == nil)
    }

    @Test func aSecondConnectionReadsWhileTheWriterWrites() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let writer = try EventWriter(path: path)
        let reader = try Store(path: path, mode: .existing)
        let done = Atomic<Bool>(false)
        let producer = Thread {
            for index in 0..<40_000 {
                _ = writer.record(Event(at: Timestamp(milliseconds: Int64(index)), kind: .failure, detail: "x"))
                if index % 1_000 == 0 { Thread.sleep(forTimeInterval: 0.001) }
            }
            _ = writer.flush()
            done.store(true, ordering: .sequentiallyConsistent)
        }
        producer.start()
        var observations: [Int] = []
        let finished = try waitUntil(timeout: .seconds(30)) {
            let count = try reader.eventCounts(in: .all)[.failure] ?? 0
            observations.append(count)
            return done.load(ordering: .sequentiallyConsistent) && count == 40_000
        }
        writer.close()
        #expect(finished)
        // Reads never failed with SQLITE_BUSY (they would have thrown) and only ever grew.
        #expect(observations == observations.sorted())
        #expect(observations.count > 1)
    }

    @Test func overflowWhileTheDatabaseIsLockedIsCountedAndRecordedAsDropped() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        _ = try Store(path: path)
        let errors = Atomic<Int>(0)
        let writer = try EventWriter(
            path: path,
            configuration: .init(capacity: 100, maximumBatch: 50, maximumDelay: .milliseconds(1),
                                 retryDelay: .milliseconds(10), maximumRetryDelay: .milliseconds(50),
                                 busyTimeoutMilliseconds: 10),
            onError: { _ in errors.add(1, ordering: .relaxed) })
        let locker = try SQLiteConnection(path: path, mode: .readWrite)
        try locker.execute("BEGIN EXCLUSIVE")
        var accepted = 0
        for index in 0..<500 {
            if writer.record(Event(at: Timestamp(milliseconds: Int64(index)), kind: .retry)) { accepted += 1 }
        }
        #expect(waitUntil { errors.load(ordering: .relaxed) > 0 })
        #expect(writer.currentStatistics.isFailing)
        try locker.execute("COMMIT")
        locker.close()
        #expect(writer.flush())
        let statistics = writer.currentStatistics
        writer.close()
        #expect(!statistics.isFailing)
        #expect(accepted + statistics.dropped == 500)
        #expect(statistics.dropped > 0)

        let store = try Store(path: path)
        let counts = try store.eventCounts(in: .all)
        // Every accepted record is in the file, and the rest is accounted for.
        #expect(counts[.retry] == accepted)
        let droppedEvents = try store.events(EventQuery(kinds: [.dropped]))
        let droppedTotal = droppedEvents.compactMap { Int($0.detail?.split(separator: " ").first ?? "") }.reduce(0, +)
        #expect(droppedTotal == statistics.dropped)
        // The outage itself is on the record, with the error that caused it.
        let outages = try store.events(EventQuery(kinds: [.storeError]))
        #expect(outages.count == 1)
        #expect(outages.first?.detail?.contains("database is locked") == true, "\(outages.first?.detail ?? "")")
    }

    @Test func checkResultsAreStoredAsRunsWithLatencyAndUptime() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let backend = try Store(path: path).addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let writer = try EventWriter(path: path)
        // 60 passing checks one second apart, 30 failing, 10 passing: three runs.
        for second in 0..<100 {
            let passed = second < 60 || second >= 90
            writer.record(CheckResult(backendID: backend.id, at: Timestamp(milliseconds: Int64(second) * 1_000),
                                      passed: passed, latencyMilliseconds: Double(second % 7 + 1),
                                      error: passed ? nil : "connection refused"))
        }
        #expect(writer.flush())
        writer.close()
        let store = try Store(path: path)
        let history = try store.healthHistory(backendID: backend.id, in: .all)
        #expect(history.runs.map(\.count) == [60, 30, 10])
        #expect(history.runs.map(\.passed) == [true, false, true])
        #expect(history.runs[1].lastError == "connection refused")
        #expect(history.runs[0].minLatencyMilliseconds == 1)
        #expect(history.runs[0].maxLatencyMilliseconds == 7)
        #expect(history.checks == 100)
        // Up from 0 s to 60 s and from 90 s to 99 s; down from 60 s to 90 s.
        let uptime = try #require(history.uptime)
        #expect(abs(uptime - 69.0 / 99.0) < 1e-9)

        let window = try store.healthHistory(backendID: backend.id,
                                             in: TimeRange(start: Timestamp(milliseconds: 70_000),
                                                           end: Timestamp(milliseconds: 80_000)))
        #expect(window.runs.map(\.passed) == [false])
        #expect(window.uptime == 0)
    }

    @Test func healthCursorAndLifecycleAreSaved() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let backend = try Store(path: path).addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let writer = try EventWriter(path: path)
        writer.recordStart(at: Timestamp(milliseconds: 100))
        writer.recordHealth(backendID: backend.id, health: .down, since: Timestamp(milliseconds: 150))
        writer.recordCursor(7, at: Timestamp(milliseconds: 200))
        writer.recordCleanStop(at: Timestamp(milliseconds: 300))
        writer.close()
        let store = try Store(path: path)
        let state = try store.balancerState()
        #expect(state.cursor == 7)
        #expect(state.lastStart == Timestamp(milliseconds: 100))
        #expect(state.lastCleanStop == Timestamp(milliseconds: 300))
        let saved = try #require(try store.backend(url: backend.url))
        #expect(saved.health == .down)
        #expect(saved.healthSince == Timestamp(milliseconds: 150))
    }
}
