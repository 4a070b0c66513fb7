import Foundation
import Testing
@testable import LBStore
@testable import lbctl

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
                                 "uptime_24h", "failures_24h", "removed_at", "backup", "max_connections",
                                 "connect_timeout_ms", "response_timeout_ms", "tls_verify", "instances", "stale"]
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

    /// Registers a daemon named `name` whose last heartbeat was `secondsAgo` ago, stopped cleanly then when `stopped`.
    static func daemon(_ name: String, in path: String, secondsAgo: Int64, stopped: Bool = false) throws {
        let store = try Store(path: path, mode: .existing)
        let at = Timestamp.now().adding(milliseconds: -secondsAgo * 1_000)
        try store.withConnection { connection in
            try Store.registerInstance(InstanceIdentity(name: name, host: "h", pid: 4242, listen: "127.0.0.1:8080",
                                                        version: "test"), at: at, in: connection)
            if stopped {
                try connection.statement("UPDATE instances SET stopped_at = ? WHERE name = ?")
                    .bind(.integer(at.milliseconds), .text(name)).run()
            }
        }
    }

    @Test func withoutARunningDaemonTheHealthIsSaidToBeAsItWasThen() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        func backends(_ arguments: [String] = []) throws -> (warning: [String], stale: [Any?]) {
            let result = try folder.lbctl.run(["--db", path, "backends"] + arguments)
            #expect(result.status == 0, "\(result.standardError)")
            let json = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json"]).standardOutput)
            return (result.errorLines, json.map { $0["stale"] })
        }

        let never = try backends()
        #expect(never.warning == ["lbctl: warning: no lbserver has recorded a heartbeat in this database: the health "
                                  + "shown was not checked by a running lbserver"])
        #expect(never.stale.allSatisfy { ($0 as? [String: Any])?["state"] as? String == "never" })

        try Self.daemon("lb-a", in: path, secondsAgo: 40)
        let lost = try backends()
        #expect(lost.warning == ["lbctl: warning: lbserver last seen 40s ago: not running? the health shown is as it was then"]
                || lost.warning == ["lbctl: warning: lbserver last seen 41s ago: not running? the health shown is as it was then"],
                "\(lost.warning)")
        let row = try #require(lost.stale.first as? [String: Any])
        #expect(row["instance"] as? String == "lb-a" && row["state"] as? String == "lost")
        #expect(TimeParsing.timestamp(fromRFC3339: row["last_seen"] as? String ?? "") != nil)
        // --json keeps its lines: the warning goes to standard error only.
        #expect(try folder.lbctl.run(["--db", path, "backends", "--json"]).standardOutput.hasPrefix("[\n  {"))

        try Self.daemon("lb-a", in: path, secondsAgo: 300, stopped: true)
        #expect(try backends().warning == ["lbctl: warning: lbserver stopped 5m 00s ago: the health shown is as it was then"])

        try Self.daemon("lb-b", in: path, secondsAgo: 60)
        let fleet = try backends()
        #expect(fleet.warning.first?.hasPrefix("lbctl: warning: no lbserver of 2 is running; the last, lb-b, last seen 1m 0")
                == true, "\(fleet.warning)")

        // One fresh heartbeat is enough: the health is being kept current.
        try Self.daemon("lb-c", in: path, secondsAgo: 1)
        let live = try backends()
        #expect(live.warning.isEmpty)
        #expect(live.stale.allSatisfy { $0 is NSNull })
        // A view of the past is not about now.
        #expect(try folder.lbctl.run(["--db", path, "backends", "--at", "1h"]).errorLines.isEmpty)
    }

    @Test func aBackendObservedForLessThanTheDaySaysOverHowLongItsUptimeIs() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let now = Timestamp.now()
        let hour: Int64 = 3_600_000
        let old = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: now.adding(milliseconds: -40 * hour))
        let young = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: now.adding(milliseconds: -81_000))
        let writer = try EventWriter(path: path)
        for offset in [-30, -12, 0] {
            writer.record(CheckResult(backendID: old.id, at: now.adding(milliseconds: Int64(offset) * hour), passed: true,
                                      latencyMilliseconds: 1))
        }
        for second in stride(from: 80, through: 0, by: -20) {
            writer.record(CheckResult(backendID: young.id, at: now.adding(milliseconds: -Int64(second) * 1_000),
                                      passed: second != 40, latencyMilliseconds: 1))
        }
        #expect(writer.flush())
        writer.close()

        let table = try folder.lbctl.run(["--db", path, "backends"])
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        // Checked all day: the header says over what. Checked for 80 s: the row says so, as history does.
        let oldRow = try #require(lines.first { $0.hasPrefix(old.url) })
        #expect(oldRow.contains(" 100.00% ") && !oldRow.contains(" over "), "\(oldRow)")
        let youngRow = try #require(lines.first { $0.hasPrefix(young.url) })
        #expect(youngRow.contains(" 75.00% over 1m 20s "), "\(youngRow)")
        let history = try folder.lbctl.run(["--db", path, "history", young.url]).standardOutput
        #expect(history.contains("uptime 75.00% over 1m 20s observed"), "\(history)")

        // The same for the day before an instant: at 30 s ago the young one had 50 s observed.
        let past = try folder.lbctl.run(["--db", path, "backends", "--at", TimeText.rfc3339(now.adding(milliseconds: -30_000))])
        let pastRow = try #require(past.standardOutput.split(separator: "\n").first { $0.hasPrefix(young.url) })
        #expect(pastRow.contains("% over 40s ") || pastRow.contains("% over 50s "), "\(pastRow)")
        // JSON is unchanged: the ratio alone.
        let json = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json"]).standardOutput)
        #expect(json.map { $0["uptime_24h"] as? Double } == [1, 0.75])
    }

    @Test func aDisabledBackendShowsNotCheckedInsteadOfItsLastHealth() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, _) = try Self.seed(path)
        let disabledAt = Timestamp.now().adding(milliseconds: -600_000)
        try Store(path: path).setAdminState(.disabled, url: a.url, actor: "alice", at: disabledAt)
        try Self.daemon("lb-a", in: path, secondsAgo: 1)

        let table = try folder.lbctl.run(["--db", path, "backends"])
        let row = try #require(table.standardOutput.split(separator: "\n").first { $0.hasPrefix(a.url) })
        #expect(row.contains("not checked") && row.contains("disabled") && !row.contains(" up "), "\(row)")
        #expect(row.contains("(10m 00s ago)") || row.contains("(10m 01s ago)"), "\(row)")

        let rows = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json"]).standardOutput)
        #expect(rows[0]["health"] as? String == "not_checked")
        #expect(rows[0]["health_since"] as? String == TimeText.rfc3339(disabledAt))
        #expect(rows[0]["admin_state"] as? String == "disabled")
        #expect(rows[1]["health"] as? String == "unknown")

        let csv = try folder.lbctl.run(["--db", path, "backends", "--csv"]).standardOutput
        #expect(csv.contains("\(a.url),not_checked,"))

        // As it stood: up before the disable, not checked after it.
        let before = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json", "--at", "15m"]).standardOutput)
        #expect(before[0]["health"] as? String == "unknown")
        let after = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json", "--at", "5m"]).standardOutput)
        #expect(after[0]["health"] as? String == "not_checked")
        #expect(after[0]["health_since"] as? String == TimeText.rfc3339(disabledAt))
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
        // A terminal that gives no width is taken as 80 columns: the table fits, http:// dropped.
        #expect(coloured.contains("127.0.0.1:9001"))
        let plain = try underTerminal(["NO_COLOR": "1"])
        #expect(plain.contains("127.0.0.1:9001"))
        #expect(!plain.contains("\u{1B}["))
    }
}
