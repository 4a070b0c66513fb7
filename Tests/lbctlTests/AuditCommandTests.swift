import Foundation
import LBStore
import Testing

@Suite struct AuditCommandTests {
    static let window = ["--from", "2026-11-20T02:00:00Z", "--to", "2026-11-20T02:30:00Z"]

    /// An incident from 02:00 to 02:30: a goes down at 02:05 and back up at 02:15 with failures,
    /// retries and 503s meanwhile; alice drains b at 02:10; the balancer restarts at 02:20. c was
    /// removed before the window and must not appear.
    static func seed(_ path: String) throws -> (a: Backend, b: Backend) {
        func at(_ minutes: Int64, _ seconds: Int64 = 0) -> Timestamp { EventsCommandTests.at(minutes: minutes, seconds: seconds) }
        let store = try Store(path: path)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: at(-60))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: at(-60))
        _ = try store.addBackend(url: "http://127.0.0.1:9003", actor: "t", at: at(-60))
        try store.removeBackend(url: "http://127.0.0.1:9003", actor: "t", at: at(-30))
        for backend in [a, b] {
            try store.record(Event(at: at(-29), kind: .statusChange, backendID: backend.id, detail: "unknown->up"))
        }
        try store.record(Event(at: at(-10), kind: .failure, backendID: a.id, requestID: "old", detail: "refused"))

        try store.record(Event(at: at(4), kind: .failure, backendID: a.id, requestID: "r1", attempt: 1, detail: "connection refused"))
        try store.record(Event(at: at(4, 1), kind: .retry, backendID: a.id, requestID: "r1", attempt: 2))
        try store.record(Event(at: at(4, 2), kind: .failure, backendID: a.id, requestID: "r1", attempt: 2, detail: "connection refused"))
        try store.record(Event(at: at(5), kind: .statusChange, backendID: a.id, detail: "up->down after 3 failures"))
        try store.record(Event(at: at(6), kind: .rejected, requestID: "r2", detail: "503 Service Unavailable"))
        try store.record(Event(at: at(6, 5), kind: .rejected, requestID: "r3", detail: "503 Service Unavailable"))
        try store.record(Event(at: at(7), kind: .rejected, requestID: "r4", detail: "502 Bad Gateway"))
        try store.record(Event(at: at(8), kind: .failure, backendID: b.id, requestID: "r5", attempt: 1, detail: "reset"))
        try store.setAdminState(.drained, url: b.url, actor: "alice", at: at(10))
        try store.record(Event(at: at(12), kind: .failure, backendID: a.id, requestID: "r6", attempt: 1,
                               detail: "connection refused (last)"))
        try store.record(Event(at: at(15), kind: .statusChange, backendID: a.id, detail: "down->up after 2 passed checks"))
        try store.record(Event(at: at(20), kind: .startup, detail: "lbserver started"))
        try store.record(Event(at: at(31), kind: .failure, backendID: a.id, requestID: "late", detail: "after the window"))
        return (a, b)
    }

    @Test func theJSONReportHasDowntimeCountsFailuresRequestIDsAndTheTimeline() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, b) = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "audit", "--json"] + Self.window)
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDocument.object(result.standardOutput)
        #expect(report["from"] as? String == "2026-11-20T02:00:00.000Z")
        #expect(report["to"] as? String == "2026-11-20T02:30:00.000Z")

        let counts = try #require(report["counts"] as? [String: Int])
        #expect(counts == ["failures": 4, "retries": 1, "attempts": 0, "rejected": 3, "503": 2])

        let first = try #require(report["first_failure"] as? [String: Any])
        #expect(first["at"] as? String == "2026-11-20T02:04:00.000Z")
        #expect(first["backend"] as? String == a.url)
        let last = try #require(report["last_failure"] as? [String: Any])
        #expect(last["detail"] as? String == "connection refused (last)")

        let requests = try #require(report["requests_affected"] as? [String: Any])
        #expect(requests["count"] as? Int == 6)
        #expect(requests["sample"] as? [String] == ["r1", "r2", "r3", "r4", "r5", "r6"])

        let backends = try #require(report["backends"] as? [[String: Any]])
        #expect(backends.map { $0["url"] as? String } == [a.url, b.url])
        #expect(backends[0]["downtime_ms"] as? Int == 600_000)
        #expect(backends[0]["failures"] as? Int == 3)
        #expect(backends[0]["retries"] as? Int == 1)
        #expect(backends[0]["state_at_start"] as? String == "up")
        #expect(backends[0]["state_at_end"] as? String == "up")
        let segments = try #require(backends[0]["segments"] as? [[String: String]])
        #expect(segments == [
            ["from": "2026-11-20T02:00:00.000Z", "to": "2026-11-20T02:05:00.000Z", "state": "up"],
            ["from": "2026-11-20T02:05:00.000Z", "to": "2026-11-20T02:15:00.000Z", "state": "down"],
            ["from": "2026-11-20T02:15:00.000Z", "to": "2026-11-20T02:30:00.000Z", "state": "up"],
        ])
        #expect(backends[1]["downtime_ms"] as? Int == 0)
        #expect(backends[1]["drained_ms"] as? Int == 1_200_000)
        #expect(backends[1]["state_at_end"] as? String == "drained")

        let timeline = try #require(report["timeline"] as? [[String: Any]])
        #expect(timeline.map { $0["kind"] as? String } == ["status_change", "admin_change", "status_change", "startup"])
        #expect(timeline[1]["detail"] as? String == "admin_state enabled->drained by=alice")
    }

    @Test func theTextReportNamesEveryBackendItsDowntimeAndTheOperatorAction() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, b) = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "audit"] + Self.window)
        #expect(result.status == 0)
        let text = result.standardOutput
        #expect(text.hasPrefix("Post-incident report: 2026-11-20 02:00:00Z to 2026-11-20 02:30:00Z (30m 00s"))
        let rowOfA = try #require(text.split(separator: "\n").first { $0.hasPrefix(a.url) })
        #expect(rowOfA.contains("10m 00s"))
        let rowOfB = try #require(text.split(separator: "\n").first { $0.hasPrefix(b.url) })
        #expect(rowOfB.contains("drained") && rowOfB.contains("20m 00s"))
        #expect(!text.contains("http://127.0.0.1:9003"))
        #expect(text.contains("admin_state enabled->drained by=alice"))
        #expect(text.contains("503 answers"))
        #expect(text.contains("r1 r2 r3 r4 r5 r6"))
    }

    @Test func theHTMLReportIsOneSelfContainedPageWithALanePerBackend() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, b) = try Self.seed(path)
        let file = folder.path("report.html")
        let result = try folder.lbctl.run(["--db", path, "audit", "--html", file] + Self.window)
        #expect(result.status == 0)
        #expect(result.standardOutput.hasSuffix("HTML report written to \(file)\n"))
        let html = try String(contentsOfFile: file, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg") && html.contains("</svg>"))
        #expect(html.contains(a.url) && html.contains(b.url))
        // Nothing to run and nothing fetched: no scripts, no links, no images, no remote URLs
        // beyond the SVG namespace name.
        for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "src=", "url(http", "javascript:"] {
            #expect(!html.lowercased().contains(forbidden), "found \(forbidden)")
        }
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            .replacingOccurrences(of: "http://127.0.0.1:900", with: "").contains("http") == false)
        // The down span of a is painted, and b's drained span.
        #expect(html.contains("\(a.url): down 2026-11-20 02:05:00Z to 2026-11-20 02:15:00Z (10m 00s)"))
        #expect(html.contains("\(b.url): drained 2026-11-20 02:10:00Z to 2026-11-20 02:30:00Z (20m 00s)"))
    }

    @Test func auditCountsAreExactWhenRejectionsWereCoalescedIntoFewRows() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, _) = try Self.seed(path)
        func at(_ minutes: Int64, _ seconds: Int64 = 0) -> Timestamp { EventsCommandTests.at(minutes: minutes, seconds: seconds) }
        let store = try Store(path: path)
        // A storm into the empty pool at 02:06-02:07: 5 000 503s in two rows, 40 502s of a in one.
        try store.record(Event(at: at(6, 10), kind: .rejected, requestID: "s1", detail: "503 no backend available",
                               data: EventData(requestIDs: ["s1", "s2", "s3", "s4", "s5"], clients: ["127.0.0.1"]),
                               count: 4_000))
        try store.record(Event(at: at(6, 11), kind: .rejected, requestID: "t1", detail: "503 no backend available",
                               data: EventData(requestIDs: ["t1"], clients: ["127.0.0.1"]), count: 1_000))
        try store.record(Event(at: at(7, 30), kind: .rejected, backendID: a.id, requestID: "r1",
                               detail: "502 invalid response from backend",
                               data: EventData(requestIDs: ["r1"], clients: ["127.0.0.1"]), count: 40))
        // Client junk is not a balancer answer and counts nowhere in the audit.
        try store.record(Event(at: at(8), kind: .refused, detail: "400 bare LF in the head", count: 300))
        let result = try folder.lbctl.run(["--db", path, "audit", "--json"] + Self.window)
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDocument.object(result.standardOutput)
        let counts = try #require(report["counts"] as? [String: Int])
        #expect(counts == ["failures": 4, "retries": 1, "attempts": 0, "rejected": 3 + 5_040, "503": 2 + 5_000])
        let requests = try #require(report["requests_affected"] as? [String: Any])
        // r1..r6 as before, s1..s5 and t1 named, and the 4 995 + 999 requests of the storm that
        // reached no backend; the 502 row's r1 is named already.
        #expect(requests["count"] as? Int == 6 + 6 + 3_995 + 999)
        let text = try folder.lbctl.run(["--db", path, "audit"] + Self.window).standardOutput
        #expect(text.contains("5043"))
        #expect(text.contains("5002"))
    }

    @Test func anEmptyOrReversedWindowIsRefused() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        let reversed = try folder.lbctl.run(["--db", path, "audit", "--from", "2026-11-20T02:30:00Z", "--to", "2026-11-20T02:00:00Z"])
        #expect(reversed.status == 65)
        let empty = try folder.lbctl.run(["--db", path, "audit", "--from", "2026-11-20T02:30:00Z", "--to", "2026-11-20T02:30:00Z"])
        #expect(empty.status == 65)
    }
}
