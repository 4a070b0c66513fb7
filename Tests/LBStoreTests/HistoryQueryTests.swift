import Foundation
import Testing
@testable import LBStore

/// The look-ups `lbctl backends --at` and `lbctl why` are built on, and the bulk import of
/// health runs `lbctl-seed` uses.
@Suite struct HistoryQueryTests {
    static func t(_ milliseconds: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds) }

    @Test(arguments: StoreEngine.allCases)
    func eventsOnEitherSideOfAPositionAreInTimeThenIDOrderAndSplitASharedMillisecond(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        #expect(try store.firstEventTime() == nil)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Self.t(10))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: Self.t(5))
        for (at, detail) in [(100, "unknown->up"), (200, "up->down"), (200, "down->up"), (300, "up->down")] {
            try store.record(Event(at: Self.t(Int64(at)), kind: .statusChange, backendID: a.id, detail: detail))
        }
        try store.record(Event(at: Self.t(250), kind: .statusChange, backendID: b.id, detail: "unknown->up"))
        #expect(try store.firstEventTime() == Self.t(5))

        let atTwoHundred = try store.backendEvents(a.id, kind: .statusChange, before: .end(of: Self.t(200)), limit: 10)
        #expect(atTwoHundred.map(\.detail) == ["down->up", "up->down", "unknown->up"])
        let second = try #require(atTwoHundred.first)
        #expect(try store.backendEvents(a.id, kind: .statusChange, before: EventPosition(of: second), limit: 1)
            .map(\.detail) == ["up->down"])
        let first = atTwoHundred[1]
        #expect(try store.backendEvents(a.id, kind: .statusChange, after: EventPosition(of: first), limit: 5)
            .map(\.detail) == ["down->up", "up->down"])
        #expect(try store.backendEvents(a.id, kind: .adminChange, before: .end(of: Self.t(9)), limit: 5).isEmpty)
    }

    @Test(arguments: StoreEngine.allCases)
    func adminChangesAreFoundByActionInNewAndOldRowsThroughTheirIndex(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Self.t(10))
        try store.setWeight(3, url: a.url, actor: "t", at: Self.t(20))
        try store.setAdminState(.drained, url: a.url, actor: "t", at: Self.t(30))
        // Written before schema v5: no data, the action is the detail's first word.
        try store.record(Event(at: Self.t(40), kind: .adminChange, backendID: a.id, detail: "weight 3->4 by=old"))
        try store.setWeight(5, url: a.url, actor: "t", at: Self.t(50))

        let weights = try store.adminChanges(a.id, action: "weight", before: .end(of: Self.t(45)), limit: 5)
        #expect(weights.map(\.detail) == ["weight 3->4 by=old", "weight 1->3 by=t"])
        #expect(try store.adminChanges(a.id, action: "weight", after: .end(of: Self.t(40)), limit: 5)
            .map(\.detail) == ["weight 3->5 by=t"])
        #expect(try store.adminChanges(a.id, action: "admin_state", before: .end(of: Self.t(100)), limit: 5).count == 1)
        #expect(try store.adminChanges(a.id, action: "remove", before: .end(of: Self.t(100)), limit: 5).isEmpty)

        let plan: [String] = try store.withConnection { connection in
            // PostgreSQL would scan a table this small whatever the indexes: it is told not to.
            if engine == .postgres { try connection.execute("SET enable_seqscan = off") }
            let statement = try connection.statement("""
                \(engine == .sqlite ? "EXPLAIN QUERY PLAN" : "EXPLAIN") SELECT e.id FROM events e
                WHERE e.backend_id = ? AND e.kind = 'admin_change' AND \(Store.eventActionSQL(connection.dialect)) = ?
                    AND e.at <= ? AND (e.at < ? OR e.id < ?) ORDER BY e.at DESC, e.id DESC LIMIT 1
                """)
            try statement.bind(.integer(a.id), .text("weight"), .integer(100), .integer(100), .integer(Int64.max))
            var rows: [String] = []
            while try statement.step() { rows.append(statement.text(engine == .sqlite ? 3 : 0)) }
            return rows
        }
        #expect(plan.contains { $0.contains("events_backend_action_at") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") || $0.contains("Sort") }, "\(plan)")
    }

    @Test(arguments: StoreEngine.allCases)
    func importedHealthRunsAreReadBackAsRecorded(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Self.t(0))
        let runs = [
            HealthRun(id: 0, backendID: a.id, passed: true, firstAt: Self.t(0), lastAt: Self.t(59_000), count: 60,
                      minLatencyMilliseconds: 1, maxLatencyMilliseconds: 9, averageLatencyMilliseconds: 2.5, lastError: nil),
            HealthRun(id: 0, backendID: a.id, passed: false, firstAt: Self.t(60_000), lastAt: Self.t(79_000), count: 20,
                      minLatencyMilliseconds: 2000, maxLatencyMilliseconds: 2000, averageLatencyMilliseconds: 2000,
                      lastError: "timed out after 2s"),
        ]
        try store.importHealthRuns(runs)
        let history = try store.healthHistory(backendID: a.id, in: TimeRange(start: Self.t(0), end: Self.t(80_000)))
        #expect(history.checks == 80)
        #expect(history.runs.map(\.count) == [60, 20])
        #expect(history.runs.map(\.averageLatencyMilliseconds) == [2.5, 2000])
        #expect(history.runs.last?.lastError == "timed out after 2s")
        #expect(abs((history.uptime ?? 0) - 60.0 / 79.0) < 1e-9)

        var empty = runs[0]
        empty.count = 0
        #expect(throws: StoreError.self) { try store.importHealthRuns([empty]) }
        #expect(try store.healthHistory(backendID: a.id, in: .all).runs.count == 2)
    }

    /// `healthHistories` (the whole registry in two statements) measures every backend as
    /// `healthHistory` (one backend) does: runs across the window's edges, a steady run begun
    /// long before it, one that ended before it, two daemons' series of one backend, and windows
    /// that begin inside a run and between two. A named series is found through the daemon's row in
    /// `instances`, or a run of it that ends in the window.
    @Test(arguments: StoreEngine.allCases)
    func everyBackendsHistoryAtOnceIsEachBackendsHistory(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let ids = try (1...4).map { try store.addBackend(url: "http://127.0.0.1:900\($0)", actor: "t", at: Self.t(0)).id }
        func run(_ backend: Int, _ from: Int64, _ to: Int64, _ passed: Bool, _ instance: String? = nil) -> HealthRun {
            HealthRun(id: 0, backendID: ids[backend], passed: passed, firstAt: Self.t(from * 1_000), lastAt: Self.t(to * 1_000),
                      count: Int(to - from) + 1, minLatencyMilliseconds: 1, maxLatencyMilliseconds: 1,
                      averageLatencyMilliseconds: 1, lastError: passed ? nil : "refused", instance: instance)
        }
        try store.importHealthRuns([
            run(0, 0, 99, true), run(0, 100, 149, false), run(0, 150, 400, true),
            run(1, 0, 1_000, true),
            run(2, 0, 20, false),
            run(3, 0, 120, true, "lb-a"), run(3, 0, 80, true, "lb-b"), run(3, 81, 200, false, "lb-b"),
            run(3, 121, 300, false, "lb-a"),
        ])
        // The daemons that wrote the named series registered themselves, as every daemon does.
        try store.withConnection { connection in
            for name in ["lb-a", "lb-b"] {
                try Store.registerInstance(InstanceIdentity(name: name, host: "h", pid: 1, listen: "x", version: "v"),
                                           at: Self.t(0), in: connection)
            }
        }
        for (start, end) in [(0, 1_000), (50, 250), (99, 100), (100, 101), (125, 500), (450, 900)] as [(Int64, Int64)] {
            let range = TimeRange(start: Self.t(start * 1_000 + 500), end: Self.t(end * 1_000))
            let all = try store.healthHistories(in: range)
            for id in ids {
                let one = try store.healthHistory(backendID: id, in: range)
                #expect(all[id]?.uptime == one.uptime, "backend \(id) over \(start)-\(end): \(one.runs.map { "\($0.instance ?? "-") \($0.firstAt.milliseconds)-\($0.lastAt.milliseconds)" })")
                #expect((all[id]?.checks ?? 0) == one.checks, "backend \(id) over \(start)-\(end)")
            }
        }
    }
}
