import Foundation
import LBStore
import Testing

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
        #expect(lines.last == "\(backend.url): uptime 83.05% over 1h 00m (2026-11-20T02:00:00Z to 2026-11-20T03:00:00Z), 60 checks")

        let csv = try folder.lbctl.run(["--db", path, "history", backend.url, "--csv"] + window)
        let rows = csv.standardOutput.split(separator: "\n")
        #expect(rows.count == 4)
        #expect(rows[0] == "first_at,last_at,passed,count,latency_min_ms,latency_avg_ms,latency_max_ms,last_error")
        #expect(rows[2].hasPrefix("2026-11-20T02:20:00.000Z,2026-11-20T02:29:00.000Z,false,10,"))
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
