import Foundation
import LBStore
import Testing
@testable import lbctl
@testable import LBStore

/// `lbctl backends --at T` against `IncidentLog`: the registry between each recorded step.
@Suite struct BackendsAtCommandTests {
    typealias Row = [String: Any]
    static let urls = IncidentLog.urls

    /// A database holding the incident, and compact health runs for a: passing from -50, failing
    /// from 0, passing again from 10 (one check a minute).
    static func seed(in folder: TestFolder) throws -> String {
        let path = folder.path("lb.sqlite3")
        let log = try IncidentLog.write(to: path)
        let a = try log.id(urls.a)
        func run(_ passed: Bool, _ first: Double, _ last: Double) -> HealthRun {
            HealthRun(id: 0, backendID: a, passed: passed, firstAt: IncidentLog.at(first), lastAt: IncidentLog.at(last),
                      count: Int(last - first) + 1, minLatencyMilliseconds: 1, maxLatencyMilliseconds: 3,
                      averageLatencyMilliseconds: 2, lastError: passed ? nil : "connection refused")
        }
        try log.store.importHealthRuns([run(true, -50, -1), run(false, 0, 9), run(true, 10, 40)])
        return path
    }

    /// The `--json` rows at `minutes`, by URL.
    static func rows(_ folder: TestFolder, _ path: String, at minutes: Double, all: Bool = false) throws -> [String: Row] {
        try rows(folder, path, at: IncidentLog.instant(minutes), all: all)
    }

    static func rows(_ folder: TestFolder, _ path: String, at instant: String, all: Bool = false) throws -> [String: Row] {
        let result = try folder.lbctl.run(["--db", path, "backends", "--at", instant, "--json"] + (all ? ["--all"] : []))
        #expect(result.status == 0, "\(result.standardError)")
        let rows = try JSONDocument.array(result.standardOutput)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["url"] as? String ?? "", $0) })
    }

    /// The fields that say what a backend was, with times as minutes from 02:00.
    static func state(_ row: Row?) -> [String: String] {
        guard let row else { return [:] }
        var state: [String: String] = [:]
        for key in ["health", "admin_state", "origin"] { state[key] = row[key] as? String }
        state["weight"] = (row["weight"] as? Int).map(String.init)
        for key in ["health_since", "admin_state_since", "weight_since", "added_at", "removed_at"] {
            guard let text = row[key] as? String, let instant = TimeParsing.timestamp(fromRFC3339: text) else { continue }
            let minutes = Double(instant.milliseconds - IncidentLog.at(0).milliseconds) / 60_000
            state[key] = String(format: "%g", minutes)
        }
        return state
    }

    static func expected(_ health: String, since healthSince: Double, _ admin: String, since adminSince: Double,
                         weight: Int, since weightSince: Double, origin: String, added: Double,
                         removed: Double? = nil) -> [String: String] {
        var state = ["health": health, "health_since": String(format: "%g", healthSince), "admin_state": admin,
                     "admin_state_since": String(format: "%g", adminSince), "weight": String(weight),
                     "weight_since": String(format: "%g", weightSince), "origin": origin,
                     "added_at": String(format: "%g", added)]
        state["removed_at"] = removed.map { String(format: "%g", $0) }
        return state
    }

    @Test func eachRowHasTheBackendsKeysAndTheInstantAskedFor() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let rows = try Self.rows(folder, path, at: -55)
        #expect(Set(rows.keys) == [Self.urls.a, Self.urls.b, Self.urls.e, Self.urls.f, Self.urls.g, Self.urls.h])
        let keys: Set = ["url", "health", "health_since", "admin_state", "weight", "added_at", "origin", "uptime_24h",
                         "failures_24h", "removed_at", "backup", "max_connections", "connect_timeout_ms", "response_timeout_ms",
                         "tls_verify", "at", "admin_state_since", "weight_since", "instances", "stale"]
        for row in rows.values {
            #expect(Set(row.keys) == keys)
            #expect((row["instances"] as? [Any])?.isEmpty == true, "a single node's record names no instance")
            #expect(row["at"] as? String == "2026-11-20T01:05:00.000Z")
            #expect(row["stale"] is NSNull, "a view of the past is not about now")
        }
        #expect(Self.state(rows[Self.urls.a]) == Self.expected("unknown", since: -60, "enabled", since: -60, weight: 2,
                                                                since: -60, origin: "config", added: -60))
        #expect(Self.state(rows[Self.urls.b]) == Self.expected("unknown", since: -60, "enabled", since: -60, weight: 1,
                                                                since: -60, origin: "runtime", added: -60))
        // `lbctl backends --json` itself keeps its keys.
        let now = try JSONDocument.array(try folder.lbctl.run(["--db", path, "backends", "--json"]).standardOutput)
        #expect(Set(now[0].keys) == keys.subtracting(["at", "admin_state_since", "weight_since"]).union(["instances"]))
    }

    @Test func healthFollowsEveryStatusChangeFromTheInstantOnItsEvent() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let a = Self.urls.a
        func health(_ instant: String) throws -> [String: String] {
            let state = Self.state(try Self.rows(folder, path, at: instant)[a])
            return ["health": state["health"] ?? "", "since": state["health_since"] ?? ""]
        }
        #expect(try health(IncidentLog.instant(-45)) == ["health": "up", "since": "-50"])
        // One millisecond before the status change, and the very instant of it.
        #expect(try health(IncidentLog.at(0).adding(milliseconds: -1).rfc3339) == ["health": "up", "since": "-50"])
        #expect(try health(IncidentLog.instant(0)) == ["health": "down", "since": "0"])
        #expect(try health(IncidentLog.instant(9.99)) == ["health": "down", "since": "0"])
        #expect(try health(IncidentLog.instant(10)) == ["health": "up", "since": "10"])
        // Any offset and fractional seconds: 03:07:00.5+01:00 is 02:07:00.500Z.
        let offset = try Self.rows(folder, path, at: "2026-11-20T03:07:00.5+01:00")
        #expect(offset[a]?["at"] as? String == "2026-11-20T02:07:00.500Z")
        #expect(offset[a]?["health"] as? String == "down")
    }

    @Test func adminStateWeightRemovalAndReAddAreFollowedStepByStep() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let b = Self.urls.b
        #expect(Self.state(try Self.rows(folder, path, at: 7)[b]) ==
            Self.expected("up", since: -50, "drained", since: 5, weight: 1, since: -60, origin: "runtime", added: -60))
        #expect(Self.state(try Self.rows(folder, path, at: 13)[b]) ==
            Self.expected("up", since: -50, "drained", since: 5, weight: 4, since: 12, origin: "runtime", added: -60))
        // Removed at 15: gone from the list, listed with --all as it stood when removed.
        #expect(try Self.rows(folder, path, at: 16)[b] == nil)
        #expect(Self.state(try Self.rows(folder, path, at: 16, all: true)[b]) ==
            Self.expected("up", since: -50, "drained", since: 5, weight: 4, since: 12, origin: "runtime", added: -60,
                          removed: 15))
        // Re-added at 20 with weight 3: health unknown and enabled from the add.
        #expect(Self.state(try Self.rows(folder, path, at: 22)[b]) ==
            Self.expected("unknown", since: 20, "enabled", since: 20, weight: 3, since: 20, origin: "runtime", added: 20))
        #expect(Self.state(try Self.rows(folder, path, at: 26)[b]) ==
            Self.expected("up", since: 25, "enabled", since: 20, weight: 3, since: 20, origin: "runtime", added: 20))
        #expect(Self.state(try Self.rows(folder, path, at: 36)[b]) ==
            Self.expected("up", since: 25, "enabled", since: 20, weight: 3, since: 20, origin: "config", added: 20))
    }

    @Test func aBackendDeclaredDisabledAndLaterEnabled() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let c = Self.urls.c
        #expect(try Self.rows(folder, path, at: 29)[c] == nil)
        // Disabled: not checked, whatever its health was.
        #expect(Self.state(try Self.rows(folder, path, at: 31)[c]) ==
            Self.expected("not_checked", since: 30, "disabled", since: 30, weight: 1, since: 30, origin: "config", added: 30))
        #expect(Self.state(try Self.rows(folder, path, at: 41)[c]) ==
            Self.expected("unknown", since: 30, "enabled", since: 40, weight: 1, since: 30, origin: "config", added: 30))
    }

    @Test func rowsWrittenBeforeStructuredDataAreReadFromTheirDetail() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let d = Self.urls.d
        #expect(try Self.rows(folder, path, at: -41)[d] == nil)
        #expect(Self.state(try Self.rows(folder, path, at: -35)[d]) ==
            Self.expected("unknown", since: -40, "enabled", since: -40, weight: 2, since: -40, origin: "runtime", added: -40))
        #expect(Self.state(try Self.rows(folder, path, at: -25)[d])["health_since"] == "-30")
        // Disabled from -20: not checked since, whatever status change the old rows record.
        #expect(Self.state(try Self.rows(folder, path, at: -15)[d]) ==
            Self.expected("not_checked", since: -20, "disabled", since: -20, weight: 2, since: -40, origin: "runtime", added: -40))
        #expect(Self.state(try Self.rows(folder, path, at: -5)[d]) ==
            Self.expected("not_checked", since: -20, "disabled", since: -20, weight: 2, since: -40, origin: "runtime", added: -40))
    }

    @Test func uptimeAndFailuresCoverThe24HoursBeforeTheInstant() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let a = Self.urls.a
        #expect(try Self.rows(folder, path, at: -55)[a]?["uptime_24h"] is NSNull)
        #expect(try Self.rows(folder, path, at: -10)[a]?["uptime_24h"] as? Double == 1)
        let at5 = try Self.rows(folder, path, at: 5)[a]
        #expect(abs((at5?["uptime_24h"] as? Double ?? 0) - 50.0 / 55.0) < 1e-9)
        #expect(at5?["failures_24h"] as? Int == 3)
        #expect(try Self.rows(folder, path, at: -1)[a]?["failures_24h"] as? Int == 0)
        let h = try Self.rows(folder, path, at: 7.55)[Self.urls.h]
        #expect(h?["failures_24h"] as? Int == 2)
    }

    @Test func theAnswerComesFromTheLogNotFromTheRegistryRow() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let before = try Self.rows(folder, path, at: 7)
        let connection = try SQLiteConnection(path: path, mode: .readWrite)
        try connection.execute("""
            UPDATE backends SET weight = 99, admin_state = 'disabled', health = 'down', health_since = 0,
                origin = 'runtime', added_at = 0
            """)
        connection.close()
        let after = try Self.rows(folder, path, at: 7)
        #expect(before.mapValues(Self.state) == after.mapValues(Self.state))
    }

    @Test func afterPruningWhatTheLogNoLongerSaysIsReadFromTheNextChangeOrTheRow() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        // Every record before -45 goes: the adds of a and b, their first status changes.
        try Store(path: path).prune(olderThan: IncidentLog.at(-45))
        let early = try folder.lbctl.run(["--db", path, "backends", "--at", IncidentLog.instant(-41)])
        #expect(early.status == 65)
        #expect(early.standardError.contains("before the database's first record (\(TimeDisplay(utc: true).milliseconds(IncidentLog.at(-40))))"))
        let rows = try Self.rows(folder, path, at: 7)
        // a: its status changes are kept; the rest of it never changed, so the registry row says it.
        #expect(Self.state(rows[Self.urls.a]) ==
            Self.expected("down", since: 0, "enabled", since: -40, weight: 2, since: -40, origin: "config", added: -60))
        // b: the weight and origin it had are the `from` of their next changes (the row now says 3
        // and config); its health before its next status change is unknown to the log.
        #expect(Self.state(rows[Self.urls.b]) ==
            Self.expected("unknown", since: -40, "drained", since: 5, weight: 1, since: -40, origin: "runtime",
                          added: -40))
    }

    @Test func theTableSaysWhichInstantAndHowLongBeforeItEachStateBegan() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let result = try folder.lbctl.run(["--db", path, "backends", "--at", IncidentLog.instant(7)])
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("registry at 2026-11-20 02:07:00.000Z ("))
        #expect(lines[1].hasPrefix("URL") && lines[1].contains("UPTIME 24H") && lines[1].contains("ORIGIN"))
        let a = try #require(lines.first { $0.hasPrefix(Self.urls.a) })
        #expect(a.contains("down") && a.contains("2026-11-20 02:00:00Z (7m 00s before)") && a.contains("config"))
        let b = try #require(lines.first { $0.hasPrefix(Self.urls.b) })
        #expect(b.contains("drained since 2026-11-20 02:05:00Z"))
        let csv = try folder.lbctl.run(["--db", path, "backends", "--at", IncidentLog.instant(7), "--csv"])
        #expect(csv.standardOutput.hasPrefix(
            "url,health,health_since,admin_state,weight,added_at,origin,uptime_24h,failures_24h,removed_at,"
            + "backup,max_connections,connect_timeout_ms,response_timeout_ms,tls_verify,at,admin_state_since,weight_since\n"))
    }

    @Test func anInstantInTheFutureOrBeforeTheFirstRecordIsRefusedWithOneLine() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let future = try folder.lbctl.run(["--db", path, "backends", "--at", "2999-01-01T00:00:00Z"])
        #expect(future.status == 65)
        #expect(future.errorLines.count == 1)
        #expect(future.standardError.hasPrefix("lbctl: --at 2999-01-01 00:00:00.000Z is in the future"))
        // The first record is a's add at 01:00.
        let early = try folder.lbctl.run(["--db", path, "backends", "--at", "2026-11-20T00:59:59.999Z"])
        #expect(early.status == 65)
        #expect(early.errorLines == ["lbctl: --at 2026-11-20 00:59:59.999Z is before the database's first record (2026-11-20 01:00:00.000Z)"])
        #expect(try folder.lbctl.run(["--db", path, "backends", "--at", "2026-11-20T01:00:00Z"]).status == 0)
        let malformed = try folder.lbctl.run(["--db", path, "backends", "--at", "last tuesday"])
        #expect(malformed.status == 65)
        #expect(malformed.errorLines.count == 1)
        // A duration means that long ago.
        let ago = try folder.lbctl.run(["--db", path, "backends", "--at", "90s", "--json"])
        #expect(ago.status == 0)
        let at = try #require(try JSONDocument.array(ago.standardOutput).first?["at"] as? String)
        let instant = try #require(TimeParsing.timestamp(fromRFC3339: at))
        #expect(abs(Timestamp.now().milliseconds - 90_000 - instant.milliseconds) < 30_000)
    }

    @Test func anInstantWhenNoLbserverRanIsWarnedAbout() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let start = IncidentLog.at(0)
        func at(_ minutes: Int64) -> Timestamp { start.adding(milliseconds: minutes * 60_000) }
        _ = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: at(0))
        // Started at 10, stopped cleanly at 20, started again at 40 and still running.
        try store.record(Event(at: at(10), kind: .startup, detail: "lbserver started"))
        try store.record(Event(at: at(20), kind: .shutdown, detail: "lbserver stopped cleanly"))
        try store.record(Event(at: at(40), kind: .startup, detail: "lbserver started"))
        func warnings(_ minutes: Int64) throws -> [String] {
            let result = try folder.lbctl.run(["--db", path, "backends", "--at", TimeText.rfc3339(at(minutes))])
            #expect(result.status == 0, "\(result.standardError)")
            #expect(result.standardOutput.contains("http://127.0.0.1:9001"))
            return result.errorLines
        }
        #expect(try warnings(30) == ["lbctl: warning: no lbserver was running at 2026-11-20 02:30:00.000Z: the health shown is "
                                     + "as the last one left it, not checked then"])
        #expect(try warnings(20) == ["lbctl: warning: no lbserver was running at 2026-11-20 02:20:00.000Z: the health shown is "
                                     + "as the last one left it, not checked then"])
        #expect(try warnings(15).isEmpty)
        #expect(try warnings(45).isEmpty)
        // Before the first start or stop recorded, nothing says either way, as the audit has it.
        #expect(try warnings(5).isEmpty)
        // With --json the warning goes to standard error too, and the array stays as it was.
        let json = try folder.lbctl.run(["--db", path, "backends", "--at", TimeText.rfc3339(at(30)), "--json"])
        #expect(json.errorLines.count == 1 && json.standardOutput.hasPrefix("[\n  {"))
    }
}
