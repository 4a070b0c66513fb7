import Foundation
import LBStore
import Testing
@testable import lbctl

/// `lbctl why URL [--at T]` against `IncidentLog`: each kind of cause, the end of each period,
/// periods that last, backends never out, and records older than structured data.
@Suite struct WhyCommandTests {
    typealias Object = [String: Any]
    static let urls = IncidentLog.urls

    static func seed(in folder: TestFolder) throws -> String {
        let path = folder.path("lb.sqlite3")
        try IncidentLog.write(to: path)
        return path
    }

    static func why(_ folder: TestFolder, _ path: String, _ url: String, at minutes: Double? = nil) throws -> Object {
        let result = try folder.lbctl.run(["--db", path, "why", url, "--json"]
            + (minutes.map { ["--at", IncidentLog.instant($0)] } ?? []))
        #expect(result.status == 0, "\(result.standardError)")
        return try JSONDocument.object(result.standardOutput)
    }

    static func time(_ minutes: Double) -> String { IncidentLog.instant(minutes) }
    /// `time(minutes)` as the text shows it (the runner's zone is UTC).
    static func text(_ minutes: Double) -> String { TimeDisplay(utc: true).milliseconds(IncidentLog.at(minutes)) }

    /// The evidence as comparable text: at, source, request id, attempt, error, latency.
    static func evidence(_ object: Any?) -> [String] {
        (object as? [Object] ?? []).map { item in
            ["at", "source", "request_id", "attempt", "error", "latency_ms"].map { key in
                switch item[key] {
                case let text as String: return text
                case let number as NSNumber: return number.stringValue
                default: return "-"
                }
            }.joined(separator: " ")
        }
    }

    @Test func aTrafficCausedPeriodListsTheFailedTriesAndTheChecksThatEndedIt() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let report = try Self.why(folder, path, Self.urls.a, at: 5)
        let keys: Set = ["url", "at", "state", "since", "until", "duration_ms", "cause", "threshold", "actor", "command",
                         "state_age_ms", "ejected_until", "detail", "evidence", "ended_by", "held_back", "instance",
                         "instances"]
        #expect(Set(report.keys) == keys)
        #expect((report["instances"] as? [Any])?.isEmpty == true, "a single node's record: no fleet views")
        #expect((report["held_back"] as? [Any])?.isEmpty == true)
        #expect(report["url"] as? String == Self.urls.a)
        #expect(report["at"] as? String == Self.time(5))
        #expect(report["state"] as? String == "down")
        #expect(report["since"] as? String == Self.time(0))
        #expect(report["until"] as? String == Self.time(10))
        #expect(report["duration_ms"] as? Int == 600_000)
        #expect(report["cause"] as? String == "traffic")
        #expect(report["threshold"] as? Int == 3)
        #expect(report["detail"] as? String == "up->down cause=traffic: 3 failed tries of request r1")
        #expect(Self.evidence(report["evidence"]) == [
            "2026-11-20T01:59:59.820Z request r1 1 connection refused -",
            "2026-11-20T01:59:59.880Z request r1 1 connection refused -",
            "2026-11-20T01:59:59.940Z request r1 1 connection refused -",
        ])
        let end = try #require(report["ended_by"] as? Object)
        #expect(end["at"] as? String == Self.time(10))
        #expect(end["state"] as? String == "up")
        #expect(end["cause"] as? String == "check")
        #expect(end["threshold"] as? Int == 2)
        #expect(Self.evidence(end["evidence"]) == [
            "2026-11-20T02:09:54.000Z check - - - 2.25",
            "2026-11-20T02:10:00.000Z check - - - 1.75",
        ])
        // The period's first instant is in it; its end is not.
        #expect(try Self.why(folder, path, Self.urls.a, at: 0)["since"] as? String == Self.time(0))
        let after = try folder.lbctl.run(["--db", path, "why", Self.urls.a, "--at", Self.time(10)])
        #expect(after.status == 0)
        #expect(after.standardOutput == "\(Self.urls.a) was up at \(Self.text(10)): not down, drained or disabled then.\n")
    }

    @Test func aCheckCausedPeriodThatLastsIsTheDefaultAndListsTheChecksAndTheFallThreshold() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let report = try Self.why(folder, path, Self.urls.e)
        #expect(report["state"] as? String == "down")
        #expect(report["since"] as? String == Self.time(20))
        #expect(report["until"] is NSNull)
        #expect(report["duration_ms"] is NSNull)
        #expect(report["ended_by"] is NSNull)
        #expect(report["cause"] as? String == "check")
        #expect(report["threshold"] as? Int == 3)
        #expect(Self.evidence(report["evidence"]) == [
            "2026-11-20T02:19:54.000Z check - - connection refused 0.5",
            "2026-11-20T02:19:57.000Z check - - timed out after 2s 2000.0",
            "2026-11-20T02:20:00.000Z check - - HTTP 503 from /healthz 12.125",
        ])
        let text = try folder.lbctl.run(["--db", path, "why", Self.urls.e])
        #expect(text.status == 0)
        let lines = text.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("\(Self.urls.e) has been down since \(Self.text(20)) ("))
        #expect(lines.contains("Cause: check, at \(Self.text(20)), threshold 3"))
        #expect(lines.contains { $0.contains("2026-11-20 02:19:57.000Z") && $0.contains("timed out after 2s") && $0.contains("2000 ms") })
        #expect(lines.last == "Ended by: nothing yet; it lasts.")
    }

    @Test func anOperatorsDrainNamesWhoAndWhichCommandAndEndsWithTheRemoval() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let b = Self.urls.b
        let report = try Self.why(folder, path, b, at: 7)
        #expect(report["state"] as? String == "drained")
        #expect(report["since"] as? String == Self.time(5))
        #expect(report["until"] as? String == Self.time(15))
        #expect(report["cause"] as? String == "admin")
        #expect(report["actor"] as? String == "alice")
        #expect(report["command"] as? String == "lbctl drain \(b)")
        #expect(Self.evidence(report["evidence"]) == ["\(Self.time(5)) admin - - - -"])
        let end = try #require(report["ended_by"] as? Object)
        #expect(end["state"] as? String == "removed")
        #expect(end["cause"] as? String == "admin")
        #expect(end["actor"] as? String == "carol")
        #expect(end["command"] as? String == "lbctl remove \(b)")
        // b is up and enabled now: with no --at the latest period is that drain.
        let latest = try Self.why(folder, path, b)
        #expect(latest["since"] as? String == Self.time(5))
        #expect(latest["state"] as? String == "drained")
        // Not registered between its removal and its re-add.
        let removed = try Self.why(folder, path, b, at: 17)
        #expect(removed["state"] as? String == "not_registered")
        #expect(removed["cause"] is NSNull)
        let text = try folder.lbctl.run(["--db", path, "why", b, "--at", Self.time(7)]).standardOutput
        #expect(text.hasPrefix("\(b) was drained from \(Self.text(5)) to \(Self.text(15)) (10m 00s); in effect at \(Self.text(7)).\n"))
        #expect(text.contains("Cause: admin, at \(Self.text(5)), by alice, with `lbctl drain \(b)`"))
        #expect(text.contains("Ended by: admin, to removed, at \(Self.text(15)), by carol, with `lbctl remove \(b)`"))
    }

    @Test func aBackendTheConfigurationDeclaredDisabledIsExplainedUntilAnOperatorEnablesIt() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let report = try Self.why(folder, path, Self.urls.c, at: 35)
        #expect(report["state"] as? String == "disabled")
        #expect(report["since"] as? String == Self.time(30))
        #expect(report["actor"] as? String == "lbserver")
        #expect(report["command"] as? String == "startup: declared by the configuration")
        let end = try #require(report["ended_by"] as? Object)
        #expect(end["state"] as? String == "enabled")
        #expect(end["actor"] as? String == "erin")
        #expect(end["at"] as? String == Self.time(40))
    }

    @Test func aRestoreCausedPeriodGivesTheRestoredStateAndItsAge() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let f = Self.urls.f
        let restored = try Self.why(folder, path, f, at: 1)
        #expect(restored["cause"] as? String == "restore")
        #expect(restored["since"] as? String == Self.time(0))
        #expect(restored["state_age_ms"] as? Int == 120_000)
        #expect(Self.evidence(restored["evidence"]) == ["\(Self.time(-20)) check - - recorded down before the restart -"])
        let end = try #require(restored["ended_by"] as? Object)
        #expect(end["cause"] as? String == "check")
        #expect(end["state"] as? String == "up")
        #expect(end["at"] as? String == Self.time(3))
        // Before the restart: the check-caused period, carried over by the restore.
        let before = try Self.why(folder, path, f, at: -10)
        #expect(before["cause"] as? String == "check")
        #expect(before["until"] as? String == Self.time(0))
        let carried = try #require(before["ended_by"] as? Object)
        #expect(carried["cause"] as? String == "restore")
        #expect(carried["state"] as? String == "down")
        let text = try folder.lbctl.run(["--db", path, "why", f, "--at", Self.time(1)]).standardOutput
        #expect(text.contains("Cause: restore, at \(Self.text(0)), restoring the recorded state, 2m 00s old"))
        let earlier = try folder.lbctl.run(["--db", path, "why", f, "--at", Self.time(-10)]).standardOutput
        #expect(earlier.contains("Carried over by: restore, to down, at \(Self.text(0))"))
    }

    @Test func aBackendNeverDownDrainedOrDisabledSaysSoAndExits0() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let text = try folder.lbctl.run(["--db", path, "why", Self.urls.g])
        #expect(text.status == 0)
        #expect(text.standardOutput == "\(Self.urls.g) was never down, drained or disabled.\n")
        let report = try Self.why(folder, path, Self.urls.g)
        #expect(report["state"] as? String == "unknown")
        for key in ["since", "until", "cause", "ended_by", "actor", "command", "threshold"] { #expect(report[key] is NSNull) }
        #expect((report["evidence"] as? [Any])?.isEmpty == true)
    }

    @Test func recordsWrittenBeforeStructuredDataAreExplainedFromTheirDetail() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let d = Self.urls.d
        let down = try Self.why(folder, path, d, at: -25)
        #expect(down["state"] as? String == "down")
        #expect(down["cause"] as? String == "check")
        #expect(down["threshold"] as? Int == 3)
        #expect(Self.evidence(down["evidence"]) == ["\(Self.time(-30)) check - - connection refused -"])
        let end = try #require(down["ended_by"] as? Object)
        #expect(end["cause"] as? String == "check")
        #expect(end["state"] as? String == "up")
        #expect(end["detail"] as? String == "down->up cause=health")
        // Disabled while down: the disabled period is the one in effect.
        let disabled = try Self.why(folder, path, d, at: -15)
        #expect(disabled["state"] as? String == "disabled")
        #expect(disabled["cause"] as? String == "admin")
        #expect(disabled["actor"] as? String == "old")
        #expect(disabled["command"] is NSNull)
        #expect(disabled["ended_by"] is NSNull)
        // An old traffic cause: the failures of the request named on the status change.
        let traffic = try Self.why(folder, path, Self.urls.h, at: 9)
        #expect(traffic["cause"] as? String == "traffic")
        #expect(Self.evidence(traffic["evidence"]) == [
            "2026-11-20T02:07:30.000Z request r9 1 connection refused -",
            "2026-11-20T02:07:36.000Z request r9 2 connection refused again -",
        ])
    }

    @Test func lbctlsOwnChangesRecordTheCommandLineThatWhyShows() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let url = "http://127.0.0.1:9001"
        #expect(try folder.lbctl.run(["--db", path, "init"]).status == 0)
        #expect(try folder.lbctl.run(["--db", path, "add", url]).status == 0)
        #expect(try folder.lbctl.run(["--db", path, "disable", url]).status == 0)
        let report = try JSONDocument.object(try folder.lbctl.run(["--db", path, "why", url, "--json"]).standardOutput)
        #expect(report["state"] as? String == "disabled")
        #expect(report["actor"] as? String == MutationCommandTests.expectedUser)
        #expect(report["command"] as? String == "lbctl --db \(path) disable \(url)")
        let add = try Store(path: path, mode: .readOnly).events(EventQuery(kinds: [.adminChange])).first
        #expect(add?.data?.command == "lbctl --db \(path) add \(url)")
    }

    @Test func anUnknownBackendOrAnInstantOutsideTheRecordExits65WithOneLine() throws {
        let folder = try TestFolder()
        let path = try Self.seed(in: folder)
        let cases: [([String], String)] = [
            (["why", "http://127.0.0.1:9999"], "lbctl: no backend http://127.0.0.1:9999 in the registry"),
            (["why", Self.urls.a, "--at", "2999-01-01T00:00:00Z"], "lbctl: --at 2999-01-01 00:00:00.000Z is in the future"),
            (["why", Self.urls.a, "--at", "2026-11-20T00:00:00Z"],
             "lbctl: --at 2026-11-20 00:00:00.000Z is before the database's first record (2026-11-20 01:00:00.000Z)"),
            (["why", Self.urls.a, "--at", "whenever"], "lbctl: malformed time 'whenever' for --at"),
        ]
        for (arguments, prefix) in cases {
            let result = try folder.lbctl.run(["--db", path] + arguments)
            #expect(result.status == 65, "\(arguments)")
            #expect(result.errorLines.count == 1, "\(arguments)")
            #expect(result.standardError.hasPrefix(prefix), "\(arguments): \(result.standardError)")
            #expect(result.standardOutput.isEmpty)
        }
    }
}
