import Foundation
import PostgresTestServer
import Testing
@testable import LBStore

/// The outbox's records reach PostgreSQL in order and exactly once, across passes and a crash
/// between sending and marking sent.
@Suite struct OutboxForwarderTests {
    /// A new database on the test run's PostgreSQL server: its target and its store.
    static func makeFleet() throws -> (PostgresTarget, Store) {
        let url = try PostgresTestServer.shared.get().makeDatabase()
        guard case .postgres(let target) = try StoreLocation(parsing: url) else { throw StoreError(.invalidValue, url) }
        return (target, try Store(location: .postgres(target)))
    }

    @Test func recordsReachPostgresOnceEvenWhenABatchIsSentTwice() throws {
        let folder = try TemporaryDirectory()
        let (target, fleet) = try Self.makeFleet()
        let a = try fleet.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let b = try fleet.addBackend(url: "http://127.0.0.1:9002", actor: "t")
        let outboxPath = folder.path("outbox.sqlite3")
        let outbox = try Store(path: outboxPath)
        try outbox.snapshotRegistry(try fleet.backends())
        #expect(try outbox.backends().map(\.id) == [a.id, b.id])

        let identity = InstanceIdentity(name: "lb-t", host: "h", pid: 42, listen: "127.0.0.1:80", version: "test")
        let writer = try EventWriter(path: outboxPath, instance: identity)
        writer.recordStart()
        for index in 0..<1_234 {
            writer.record(Event(at: .now(), kind: .failure, backendID: index % 2 == 0 ? a.id : b.id,
                                requestID: "r\(index)", detail: "refused", data: EventData(action: "x")))
        }
        writer.record(CheckResult(backendID: a.id, at: .now(), passed: true, latencyMilliseconds: 1.5))
        writer.record(CheckResult(backendID: a.id, at: .now(), passed: true, latencyMilliseconds: 2.5))
        writer.recordHealth(backendID: b.id, health: .down, since: .now())
        #expect(writer.flush())

        let forwarder = try OutboxForwarder(outbox: outboxPath, target: target, instance: "lb-t")
        let first = try forwarder.forward(maximumEvents: 1_000)
        #expect(first.events == 1_000 && first.eventsLeft == 234)
        let second = try forwarder.forward(maximumEvents: 1_000)
        #expect(second.events == 234 && second.eventsLeft == 0)
        #expect(try fleet.events(EventQuery(kinds: [.failure])).count == 1_234)
        let sent = try fleet.events(EventQuery(kinds: [.failure], instance: "lb-t"))
        #expect(sent.map(\.requestID) == (0..<1_234).map { "r\($0)" }, "in the order recorded")
        #expect(sent.first?.data?.action == "x")
        #expect(try fleet.healthByInstance()[b.id] == [InstanceHealth(instance: "lb-t", health: .down,
                                                                     since: try #require(fleet.healthByInstance()[b.id]?.first?.since))])
        #expect(try fleet.instances().map(\.identity) == [identity])
        #expect(try fleet.healthHistory(backendID: a.id, in: .all).runs.first?.count == 2)
        // Each pass lets go of what the passes before it sent, while PostgreSQL writes its own:
        // the second let go of the first's 1 000, the third (with nothing new) of the second's.
        #expect(try outbox.events(EventQuery()).count == 235)
        #expect(try forwarder.forward().events == 0)
        // The outbox let go of what PostgreSQL took, but for the last event (the highest id keeps
        // new rows numbered after the mark) and the run the writer still extends.
        #expect(try outbox.events(EventQuery()).map(\.requestID) == ["r1233"])
        #expect(try outbox.healthHistory(backendID: a.id, in: .all).runs.map(\.count) == [2])
        writer.record(Event(at: .now(), kind: .failure, backendID: a.id, requestID: "after", detail: "refused"))
        #expect(writer.flush())
        #expect(try forwarder.forward().events == 1)
        #expect(try fleet.events(EventQuery(kinds: [.failure])).last?.requestID == "after")

        // A crash after PostgreSQL committed and before the marks moved: everything is sent again.
        try outbox.withConnection { connection in try connection.execute("DELETE FROM outbox_marks") }
        writer.record(CheckResult(backendID: a.id, at: .now(), passed: true, latencyMilliseconds: 3.5))
        #expect(writer.flush())
        _ = try forwarder.forward(maximumEvents: 5_000)
        #expect(try fleet.events(EventQuery(kinds: [.failure])).count == 1_235)
        #expect(try fleet.healthHistory(backendID: a.id, in: .all).runs.map(\.count) == [3])
        writer.close()
    }

    /// Text that a transfer could mangle (backslash, tab, newline, carriage return, `\N`, a lone
    /// `\.`, non-ASCII), a NULL and a JSON value with quotes and backslashes reach PostgreSQL as
    /// they were recorded.
    @Test func awkwardTextArrivesAsRecorded() throws {
        let folder = try TemporaryDirectory()
        let (target, fleet) = try Self.makeFleet()
        let a = try fleet.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let outboxPath = folder.path("outbox.sqlite3")
        try Store(path: outboxPath).snapshotRegistry(try fleet.backends())
        let writer = try EventWriter(path: outboxPath, instance: InstanceIdentity(name: "lb-c", host: "h", pid: 1,
                                                                                  listen: "x", version: "v"))
        let details = ["tab\there", "line\nbreak", "back\\slash \\N", "cr\rhere", "ünïcødé ✓", "\\.", ""]
        for (index, detail) in details.enumerated() {
            writer.record(Event(at: .now(), kind: .failure, backendID: a.id, requestID: index == 0 ? nil : "r\(index)",
                                detail: detail, data: EventData(method: "GET", target: "/q?a=\"b\\c\"\t")))
        }
        #expect(writer.flush())
        writer.close()
        let forwarder = try OutboxForwarder(outbox: outboxPath, target: target, instance: "lb-c")
        #expect(try forwarder.forward().events == details.count)
        let sent = try fleet.events(EventQuery(kinds: [.failure]))
        #expect(sent.map { $0.detail ?? "" } == details)
        #expect(sent.first?.requestID == nil)
        #expect(sent.allSatisfy { $0.data?.target == "/q?a=\"b\\c\"\t" })
    }

    /// A pass is one transaction even though its statements are sent without waiting: a row
    /// PostgreSQL refuses (here an event for a backend it does not have) takes the whole pass
    /// back, the events before it included, and the outbox keeps everything for the next pass.
    @Test func aRefusedRowTakesTheWholePassBack() throws {
        let folder = try TemporaryDirectory()
        let (target, fleet) = try Self.makeFleet()
        let a = try fleet.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        var phantom = a
        phantom.id = a.id + 100
        phantom.url = "http://127.0.0.1:9099"
        let outboxPath = folder.path("outbox.sqlite3")
        try Store(path: outboxPath).snapshotRegistry([a, phantom])
        let writer = try EventWriter(path: outboxPath, instance: InstanceIdentity(name: "lb-r", host: "h", pid: 1,
                                                                                  listen: "x", version: "v"))
        writer.recordStart()
        for backend in [a, phantom, a] {
            writer.record(Event(at: .now(), kind: .failure, backendID: backend.id, requestID: "\(backend.id)", detail: "x"))
        }
        writer.recordHealth(backendID: a.id, health: .down, since: .now())
        #expect(writer.flush())
        writer.close()
        let forwarder = try OutboxForwarder(outbox: outboxPath, target: target, instance: "lb-r")
        #expect(throws: StoreError.self) { try forwarder.forward() }
        #expect(try fleet.events(EventQuery(kinds: [.failure])).isEmpty)
        #expect(try fleet.healthByInstance()[a.id] == nil)
        #expect(try fleet.instances().isEmpty)
        #expect(try Store(path: outboxPath).events(EventQuery(kinds: [.failure])).count == 3)
    }

    /// An outbox lost with its host and made anew numbers its rows from 1 again; they are new
    /// rows, not the old outbox's sent again, and every one reaches PostgreSQL.
    @Test func aNewOutboxOfAnInstanceLosesNothingToTheOldOnesKeys() throws {
        let folder = try TemporaryDirectory()
        let (target, fleet) = try Self.makeFleet()
        let a = try fleet.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        for (generation, path) in ["first", "second"].map({ ($0, folder.path("outbox-\($0).sqlite3")) }) {
            try Store(path: path).snapshotRegistry(try fleet.backends())
            let writer = try EventWriter(path: path, instance: InstanceIdentity(name: "lb-n", host: "h", pid: 1,
                                                                              listen: "x", version: "v"))
            for index in 0..<3 {
                writer.record(Event(at: .now(), kind: .failure, backendID: a.id, requestID: "\(generation)-\(index)",
                                    detail: "x"))
            }
            writer.record(CheckResult(backendID: a.id, at: .now(), passed: generation == "first", latencyMilliseconds: 1))
            #expect(writer.flush())
            writer.close()
            let forwarder = try OutboxForwarder(outbox: path, target: target, instance: "lb-n")
            #expect(try forwarder.forward().events == 3)
        }
        #expect(try fleet.events(EventQuery(kinds: [.failure])).map { $0.requestID ?? "" }
                == ["first-0", "first-1", "first-2", "second-0", "second-1", "second-2"])
        #expect(try fleet.healthHistory(backendID: a.id, in: .all).runs.map(\.passed) == [true, false])
    }

    @Test func anUnreachableServerFailsThePassAndLosesNothing() throws {
        let folder = try TemporaryDirectory()
        let outboxPath = folder.path("outbox.sqlite3")
        let writer = try EventWriter(path: outboxPath, instance: InstanceIdentity(name: "lb-t", host: "h", pid: 1,
                                                                                  listen: "x", version: "v"))
        writer.record(Event(at: .now(), kind: .startup, detail: "kept"))
        #expect(writer.flush())
        writer.close()
        let target = try PostgresTarget(url: "postgres://lb@/lb?host=\(folder.url.path)")
        let forwarder = try OutboxForwarder(outbox: outboxPath, target: target, instance: "lb-t")
        let error = #expect(throws: StoreError.self) { try forwarder.forward() }
        #expect(error?.kind == .unreachable)
        #expect(try Store(path: outboxPath).events(EventQuery()).map(\.detail) == ["kept"])
    }
}
