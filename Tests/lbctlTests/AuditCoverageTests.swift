import Foundation
import Testing
@testable import LBStore

/// The audit tells what the record can and cannot say: no balancer while no lbserver ran (after a
/// clean stop, after a kill, after its heartbeat went stale), an outage while no backend could take
/// traffic, a window that starts before the oldest record, and what a prune deleted.
@Suite struct AuditCoverageTests {
    static func at(_ minutes: Int64, _ seconds: Int64 = 0) -> Timestamp { EventsCommandTests.at(minutes: minutes, seconds: seconds) }
    static let window = ["--from", "2026-11-20T02:00:00Z", "--to", "2026-11-20T02:30:00Z"]

    /// lb-a starts at -30 and sees a and b up; a goes down at 5; lb-a is killed after a failure at 8
    /// (no shutdown) and starts again at 12; b goes down at 14 and up at 16 (both down meanwhile:
    /// an outage); lb-a stops cleanly at 20.
    static func seed(_ path: String) throws -> (a: Backend, b: Backend) {
        let store = try Store(path: path)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: at(-60))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: at(-60))
        func record(_ minutes: Int64, _ kind: EventKind, _ backend: Backend? = nil, _ detail: String) throws {
            try store.record(Event(at: at(minutes), kind: kind, backendID: backend?.id, detail: detail, instance: "lb-a"))
        }
        try record(-30, .startup, nil, "lbserver started")
        try record(-29, .statusChange, a, "unknown->up")
        try record(-29, .statusChange, b, "unknown->up")
        try record(5, .statusChange, a, "up->down")
        try record(8, .failure, a, "connection refused")
        try record(12, .startup, nil, "lbserver started")
        try record(14, .statusChange, b, "up->down")
        try record(16, .statusChange, b, "down->up")
        try record(20, .shutdown, nil, "lbserver stopped")
        return (a, b)
    }

    static func span(_ from: Int64, _ to: Int64) -> [String: String] {
        ["from": at(from).rfc3339, "to": at(to).rfc3339]
    }

    static func spans(_ value: Any?) -> [[String: String]] {
        (value as? [[String: Any]] ?? []).map { ["from": $0["from"] as? String ?? "", "to": $0["to"] as? String ?? ""] }
    }

    @Test func afterTheDaemonStopsLanesShowNoBalancerInsteadOfCountingDowntime() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, b) = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "audit", "--json"] + Self.window)
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDocument.object(result.standardOutput)
        // Killed after its last sign of life at 8, started at 12; stopped cleanly at 20.
        #expect(Self.spans(report["no_balancer"]) == [Self.span(8, 12), Self.span(20, 30)])
        let backends = try #require(report["backends"] as? [[String: Any]])
        #expect(backends.map { $0["url"] as? String } == [a.url, b.url])
        // Down 5-8 and 12-20: 11 minutes, not the 25 to the window's end.
        #expect(backends[0]["downtime_ms"] as? Int == 11 * 60_000)
        #expect(backends[0]["state_at_end"] as? String == "no_balancer")
        let segments = (backends[0]["segments"] as? [[String: Any]] ?? []).map { $0["state"] as? String ?? "" }
        #expect(segments == ["up", "down", "no_balancer", "down", "no_balancer"])
        #expect(backends[1]["downtime_ms"] as? Int == 2 * 60_000)
        // Both down from 14 to 16: the outage, named.
        #expect(Self.spans(report["outages"]) == [Self.span(14, 16)])

        let text = try folder.lbctl.run(["--db", path, "audit"] + Self.window).standardOutput
        #expect(text.contains("Outages: no backend could take traffic"))
        let outage = try #require(text.split(separator: "\n").first { $0.hasPrefix("2026-11-20 02:14:00Z") })
        #expect(outage.contains("2m 00s") && outage.contains("\(a.url) down, \(b.url) down"), "\(outage)")
        #expect(text.contains("No balancer running"))
        let rowOfA = try #require(text.split(separator: "\n").first { $0.hasPrefix(a.url) })
        #expect(rowOfA.contains("11m 00s") && rowOfA.contains("no balancer"), "\(rowOfA)")

        let file = folder.path("report.html")
        #expect(try folder.lbctl.run(["--db", path, "audit", "--html", file] + Self.window).status == 0)
        let html = try String(contentsOfFile: file, encoding: .utf8)
        #expect(html.contains("\(a.url): no balancer 2026-11-20 02:20:00Z to 2026-11-20 02:30:00Z (10m 00s)"))
        #expect(html.contains("outage: no backend could take traffic 2026-11-20 02:14:00Z to 2026-11-20 02:16:00Z"))
        #expect(html.contains("<h2>Outages: no backend could take traffic</h2>"))
    }

    @Test func aDaemonWhoseHeartbeatWentStaleStoppedBalancingAtItsLastHeartbeat() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: Self.at(-60))
        try store.record(Event(at: Self.at(0), kind: .startup, detail: "lbserver started", instance: "lb-b"))
        try store.record(Event(at: Self.at(1), kind: .statusChange, backendID: a.id, detail: "unknown->down", instance: "lb-b"))
        try store.withConnection { connection in
            try Store.registerInstance(InstanceIdentity(name: "lb-b", host: "h", pid: 1, listen: "127.0.0.1:8080",
                                                        version: "test"), at: Self.at(10), in: connection)
        }
        let report = try JSONDocument.object(try folder.lbctl.run(["--db", path, "audit", "--json"] + Self.window).standardOutput)
        #expect(Self.spans(report["no_balancer"]) == [Self.span(10, 30)])
        let backends = try #require(report["backends"] as? [[String: Any]])
        #expect(backends[0]["downtime_ms"] as? Int == 9 * 60_000)
        // Down with no other backend from 1 to 10: an outage, and none after the daemon was gone.
        #expect(Self.spans(report["outages"]) == [Self.span(1, 10)])
    }

    @Test func aWindowThatStartsBeforeTheOldestRecordSaysSo() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try AuditCommandTests.seed(path)
        let early = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-20T01:30:00Z"]
        let report = try JSONDocument.object(try folder.lbctl.run(["--db", path, "audit", "--json"] + early).standardOutput)
        #expect(report["first_record"] as? String == "2026-11-20T01:00:00.000Z")
        let noRecord = try #require(report["no_record"] as? [String: Any])
        #expect(noRecord["from"] as? String == "2026-11-20T00:00:00.000Z" && noRecord["to"] as? String == "2026-11-20T01:00:00.000Z")
        #expect(noRecord["duration_ms"] as? Int == 3_600_000)
        let backends = try #require(report["backends"] as? [[String: Any]])
        let states = (backends.first?["segments"] as? [[String: Any]] ?? []).map { $0["state"] as? String ?? "" }
        #expect(states.first == "no_record")
        #expect(backends.first?["state_at_start"] as? String == "no_record")
        // Nothing is known then: no outage either.
        #expect(Self.spans(report["outages"]).isEmpty)

        let text = try folder.lbctl.run(["--db", path, "audit"] + early).standardOutput
        #expect(text.contains("note: the window starts before the oldest record (2026-11-20 01:00:00Z): nothing is known of its first 1h 00m"))
        let file = folder.path("report.html")
        #expect(try folder.lbctl.run(["--db", path, "audit", "--html", file] + early).status == 0)
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains(
            "<p class=\"note\">Note: the window starts before the oldest record (2026-11-20 01:00:00Z)"))

        // A window inside the record has no such note.
        let inside = try JSONDocument.object(try folder.lbctl.run(["--db", path, "audit", "--json"] + AuditCommandTests.window).standardOutput)
        #expect(inside["no_record"] is NSNull)
    }

    @Test func afterAPruneTheAuditSaysWhatIsGone() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try AuditCommandTests.seed(path)
        try Store(path: path).prune(olderThan: Self.at(-20), actor: "alice", command: "lbctl prune --older-than 30d",
                                    at: Self.at(25))
        let from = ["--from", "2026-11-20T01:30:00Z", "--to", "2026-11-20T02:30:00Z"]
        let report = try JSONDocument.object(try folder.lbctl.run(["--db", path, "audit", "--json"] + from).standardOutput)
        #expect(report["pruned_before"] as? String == "2026-11-20T01:40:00.000Z")
        let marker = try #require(report["prune"] as? [String: Any])
        #expect(marker["kind"] as? String == "prune")
        let data = try #require(marker["data"] as? [String: Any])
        #expect(data["actor"] as? String == "alice" && data["events"] as? Int == 6)
        // The marker is in the window's timeline too.
        let timeline = try #require(report["timeline"] as? [[String: Any]])
        #expect(timeline.last?["kind"] as? String == "prune")
        let text = try folder.lbctl.run(["--db", path, "audit"] + from).standardOutput
        #expect(text.contains("note: records before 2026-11-20 01:40:00Z were pruned at 2026-11-20 02:25:00Z by alice "
                              + "(6 events, 0 health runs deleted)"), "\(text)")
        // A window after the cutoff lost nothing: no note.
        let after = try folder.lbctl.run(["--db", path, "audit"] + AuditCommandTests.window).standardOutput
        #expect(!after.contains("were pruned"))
    }
}
