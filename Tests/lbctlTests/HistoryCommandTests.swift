import Foundation
import LBStore
import Testing
@testable import lbctl

@Suite struct HistoryCommandTests {
    /// Checks every minute from 02:00: passing until 02:20, failing until 02:30, passing to 02:59.
    static func seed(_ path: String) throws -> Backend {
        let base = EventsCommandTests.base
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: base.adding(milliseconds: -60_000))
        let writer = try EventWriter(path: path)
        for minute in 0..<60 {
            let passed = !(20..<30).contains(minute)
            writer.record(CheckResult(backendID: backend.id, at: EventsCommandTests.at(minutes: Int64(minute)), passed: passed,
                                      latencyMilliseconds: Double(minute % 5) + 1, error: passed ? nil : "connection refused"))
        }
        #expect(writer.flush())
        writer.close()
        return backend
    }

    @Test func historyShowsTheRunsAndTheUptimeOfOneBackend() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let backend = try Self.seed(path)
        let window = ["--since", "2026-11-20T02:00:00Z", "--until", "2026-11-20T03:00:00Z"]

        let json = try JSONDocument.object(try folder.lbctl.run(["--db", path, "history", backend.url, "--json"] + window)
            .standardOutput)
        #expect(json["url"] as? String == backend.url)
        #expect(json["from"] as? String == "2026-11-20T02:00:00.000Z")
        #expect(json["checks"] as? Int == 60)
        // 49 of the 59 checked minutes passed (the last run ends at its last check, 02:59).
        #expect(abs((json["uptime"] as? Double ?? 0) - 49.0 / 59.0) < 0.0001)
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(runs.map { $0["passed"] as? Bool } == [true, false, true])
        #expect(runs.map { $0["count"] as? Int } == [20, 10, 30])
        #expect(runs[1]["first_at"] as? String == "2026-11-20T02:20:00.000Z")
        #expect(runs[1]["last_error"] as? String == "connection refused")
        #expect(runs[0]["latency_max_ms"] as? Double == 5)
        #expect(Set(runs[0].keys) == ["first_at", "last_at", "passed", "count", "latency_min_ms", "latency_avg_ms",
                                      "latency_max_ms", "last_error", "instance"])

        let table = try folder.lbctl.run(["--db", path, "history", backend.url] + window)
        #expect(table.status == 0)
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("FROM"))
        #expect(lines[1].contains("pass") && lines[2].contains("fail") && lines[2].contains("connection refused"))
        #expect(lines.last == "\(backend.url): uptime 83.05% over 59m 00s observed (2026-11-20 02:00:00Z to "
                + "2026-11-20 02:59:00Z) in the 1h 00m asked for, 60 checks")
        #expect(json["observed_from"] as? String == "2026-11-20T02:00:00.000Z")
        #expect(json["observed_to"] as? String == "2026-11-20T02:59:00.000Z")

        let csv = try folder.lbctl.run(["--db", path, "history", backend.url, "--csv"] + window)
        let rows = csv.standardOutput.split(separator: "\n")
        #expect(rows.count == 4)
        #expect(rows[0] == "first_at,last_at,passed,count,latency_min_ms,latency_avg_ms,latency_max_ms,last_error")
        #expect(rows[2].hasPrefix("2026-11-20T02:20:00.000Z,2026-11-20T02:29:00.000Z,false,10,"))
    }

    @Test func aBackendCheckedFor80SecondsHasItsUptimeOver80SecondsNotTheDay() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let now = Timestamp.now()
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: now.adding(milliseconds: -81_000))
        let writer = try EventWriter(path: path)
        for second in stride(from: 80, through: 0, by: -20) {
            writer.record(CheckResult(backendID: backend.id, at: now.adding(milliseconds: -Int64(second) * 1_000),
                                      passed: true, latencyMilliseconds: 1))
        }
        #expect(writer.flush())
        writer.close()
        let table = try folder.lbctl.run(["--db", path, "history", backend.url])
        #expect(table.status == 0, "\(table.standardError)")
        let summary = try #require(table.standardOutput.split(separator: "\n").last)
        #expect(summary.hasPrefix("\(backend.url): uptime 100.00% over 1m 20s observed (\(TimeDisplay(utc: true).seconds(now.adding(milliseconds: -80_000))) to "))
        #expect(summary.hasSuffix(" in the 24h 00m asked for, 5 checks"))
        let json = try JSONDocument.object(try folder.lbctl.run(["--db", path, "history", backend.url, "--json"]).standardOutput)
        #expect(json["observed_from"] as? String == TimeText.rfc3339(now.adding(milliseconds: -80_000)))
        #expect(json["observed_to"] as? String == TimeText.rfc3339(now))
    }

    @Test func aWindowWithoutChecksObservedNothing() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let backend = try Self.seed(path)
        let json = try JSONDocument.object(try folder.lbctl.run(["--db", path, "history", backend.url, "--json", "--since",
                                                                 "2026-11-20T01:00:00Z", "--until", "2026-11-20T01:30:00Z"])
            .standardOutput)
        #expect(json["checks"] as? Int == 0)
        #expect(json["observed_from"] is NSNull && json["observed_to"] is NSNull)
    }

    @Test func aRemovedBackendsHistoryIsStillThere() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let backend = try Self.seed(path)
        try Store(path: path).removeBackend(url: backend.url, actor: "t")
        let result = try folder.lbctl.run(["--db", path, "history", backend.url, "--json", "--since", "2026-11-20T02:00:00Z",
                                           "--until", "2026-11-20T03:00:00Z"])
        #expect(result.status == 0)
        #expect(try JSONDocument.object(result.standardOutput)["checks"] as? Int == 60)
    }
}
