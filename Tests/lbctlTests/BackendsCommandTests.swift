import Foundation
import LBStore
import Testing

@Suite struct BackendsCommandTests {
    /// Two backends: one up with half a day's passing checks and three recent failures (one more
    /// too old to count), one drained with weight 3 and no checks.
    static func seed(_ path: String) throws -> (a: Backend, b: Backend) {
        let now = Timestamp.now()
        let hour: Int64 = 3_600_000
        let store = try Store(path: path)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", origin: .config, actor: "t", at: now.adding(milliseconds: -48 * hour))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", weight: 3, actor: "t", at: now.adding(milliseconds: -48 * hour))
        try store.setAdminState(.drained, url: b.url, actor: "t")
        let writer = try EventWriter(path: path)
        // Passing from -12h to -6h, failing from -6h to -3h, passing again from -3h on: 75% up.
        for (offset, passed) in [(-12, true), (-9, true), (-6, false), (-3, true), (0, true)] {
            writer.record(CheckResult(backendID: a.id, at: now.adding(milliseconds: Int64(offset) * hour),
                                      passed: passed, latencyMilliseconds: 2, error: passed ? nil : "refused"))
        }
        writer.recordHealth(backendID: a.id, health: .up, since: now.adding(milliseconds: -3 * hour))
        for offset in [-5, -4, -1, -25] {
            writer.record(Event(at: now.adding(milliseconds: Int64(offset) * hour), kind: .failure, backendID: a.id,
                                requestID: "r\(offset)", detail: "connection refused"))
        }
        #expect(writer.flush())
        writer.close()
        return (a, b)
    }

    @Test func theTableShowsHealthSinceAdminStateWeightUptimeAndFailuresOfEachBackend() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "backends"])
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("URL"))
        #expect(lines[0].contains("UPTIME 24H") && lines[0].contains("FAILURES 24H"))
        let a = lines[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(a.first == "http://127.0.0.1:9001")
        #expect(a.contains("up") && a.contains("enabled") && a.contains("75.00%") && a.contains("config"))
        #expect(lines[1].contains("(3h 00m ago)") || lines[1].contains("(2h 59m ago)"))
        #expect(a.dropLast().last == "3")  // failures in 24 h: the one 25 h ago is not counted
        let b = lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(b.first == "http://127.0.0.1:9002")
        #expect(b.contains("unknown") && b.contains("drained") && b.contains("3") && b.contains("-"))
        // Columns line up: every row starts its second column where the header's does.
        let column = try #require(lines[0].range(of: "HEALTH")).lowerBound.utf16Offset(in: lines[0])
        #expect(lines[1].dropFirst(column).hasPrefix("up"))
        #expect(lines[2].dropFirst(column).hasPrefix("unknown"))
        // Not a terminal: no colour codes.
        #expect(!result.standardOutput.contains("\u{1B}["))
    }

    @Test func theJSONHasTheDocumentedShape() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, _) = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "backends", "--json"])
        #expect(result.status == 0)
        let rows = try JSONDocument.array(result.standardOutput)
        #expect(rows.count == 2)
        let expectedKeys: Set = ["url", "health", "health_since", "admin_state", "weight", "added_at", "origin",
                                 "uptime_24h", "failures_24h", "removed_at", "instances"]
        for row in rows { #expect(Set(row.keys) == expectedKeys) }
        // No daemon has run on this database: no instance has a view.
        #expect(rows.allSatisfy { ($0["instances"] as? [Any])?.isEmpty == true })
        #expect(rows[0]["url"] as? String == a.url)
        #expect(rows[0]["health"] as? String == "up")
        #expect(rows[0]["admin_state"] as? String == "enabled")
        #expect(rows[0]["weight"] as? Int == 1)
        #expect(rows[0]["origin"] as? String == "config")
        #expect(abs((rows[0]["uptime_24h"] as? Double ?? 0) - 0.75) < 0.001)
        #expect(rows[0]["failures_24h"] as? Int == 3)
        #expect(rows[0]["removed_at"] is NSNull)
        let since = try #require(rows[0]["health_since"] as? String)
        #expect(TimeParsing.timestamp(fromRFC3339: since) != nil && since.hasSuffix("Z"))
        #expect(rows[1]["admin_state"] as? String == "drained")
        #expect(rows[1]["weight"] as? Int == 3)
        #expect(rows[1]["uptime_24h"] is NSNull)
        #expect(rows[1]["failures_24h"] as? Int == 0)
    }

    @Test func removedBackendsAreListedOnlyWithAll() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (_, b) = try Self.seed(path)
        try Store(path: path).removeBackend(url: b.url, actor: "t")
        let live = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json"]).standardOutput)
        #expect(live.map { $0["url"] as? String } == ["http://127.0.0.1:9001"])
        let all = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json", "--all"]).standardOutput)
        #expect(all.count == 2)
        #expect(all[1]["removed_at"] is String)
        let table = try folder.lbctl.run(["--db", path, "backends", "--all"]).standardOutput
        #expect(table.contains("http://127.0.0.1:9002 (removed)"))
    }

    @Test func theDatabaseComesFromTheFlagThenLBDBThenTheWorkingDirectory() throws {
        let folder = try TestFolder()
        _ = try Self.seed(folder.path("lb.sqlite3"))
        let other = folder.path("other.sqlite3")
        try Store(path: other).addBackend(url: "http://127.0.0.1:7000", actor: "t")

        let fromCwd = try folder.lbctl.run(["backends", "--json"])
        #expect(try JSONDocument.array(fromCwd.standardOutput).count == 2)
        let fromEnvironment = try folder.lbctl.run(["backends", "--json"], environment: ["LB_DB": other])
        #expect(try JSONDocument.array(fromEnvironment.standardOutput).map { $0["url"] as? String } == ["http://127.0.0.1:7000"])
        let flagWins = try folder.lbctl.run(["backends", "--json", "--db", folder.path("lb.sqlite3")],
                                            environment: ["LB_DB": other])
        #expect(try JSONDocument.array(flagWins.standardOutput).count == 2)
    }

    /// Runs `lbctl` under `script(1)`, which gives it a pseudo-terminal as stdout.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func colourIsUsedOnlyOnATerminalAndNeverWithNoColour() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        let binary = try #require(LBCtlRunner.binary)
        func underTerminal(_ environment: [String: String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-q", "-e", "-c", "'\(binary.path)' --db '\(path)' backends", "/dev/null"]
            var merged = ProcessInfo.processInfo.environment
            merged["NO_COLOR"] = nil
            merged.merge(environment) { $1 }
            process.environment = merged
            let output = folder.url.appendingPathComponent("tty-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            #expect(eventually { !process.isRunning })
            return try String(contentsOf: output, encoding: .utf8)
        }
        let coloured = try underTerminal([:])
        #expect(coloured.contains("\u{1B}[32mup\u{1B}[0m"))
        #expect(coloured.contains("http://127.0.0.1:9001"))
        let plain = try underTerminal(["NO_COLOR": "1"])
        #expect(plain.contains("http://127.0.0.1:9001"))
        #expect(!plain.contains("\u{1B}["))
    }
}
