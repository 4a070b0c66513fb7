import Foundation
import LBStore
import PostgresTestServer
import Testing
@testable import lbctl

/// `why` and `backends --at` on a fleet's record, where two daemons saw one backend differently:
/// lb-a saw it go down by traffic at 02:10 and come back at 02:20; lb-b saw it up throughout,
/// but down by its own checks from 02:12 to 02:14 (a period of its own, not the end of lb-a's).
/// Written on a file and on PostgreSQL: the answers are the same.
@Suite struct FleetHistoryTests {
    static let url = "http://127.0.0.1:9001"
    static func at(_ minutes: Double) -> Timestamp { IncidentLog.at(minutes) }

    static func seed(_ store: Store) throws {
        let backend = try store.addBackend(url: url, actor: "t", at: at(-60))
        func status(_ minutes: Double, _ instance: String, _ from: Health, _ to: Health, _ cause: EventCause) throws {
            try store.record(Event(at: at(minutes), kind: .statusChange, backendID: backend.id,
                                   detail: "\(from.rawValue)->\(to.rawValue) cause=\(cause.rawValue)",
                                   data: EventData(from: from.rawValue, to: to.rawValue, cause: cause), instance: instance))
        }
        for instance in ["lb-a", "lb-b"] {
            try store.record(Event(at: at(-50), kind: .startup, detail: "lbserver started", instance: instance))
            try status(-49, instance, .unknown, .up, .check)
        }
        // Checks every second: lb-a's fail from 02:10 to 02:20, lb-b's pass throughout.
        func run(_ instance: String, _ from: Double, _ to: Double, passed: Bool) -> HealthRun {
            HealthRun(id: 0, backendID: backend.id, passed: passed, firstAt: at(from), lastAt: at(to),
                      count: Int((to - from) * 60) + 1, minLatencyMilliseconds: 1, maxLatencyMilliseconds: 2,
                      averageLatencyMilliseconds: 1.5, lastError: passed ? nil : "connection refused", instance: instance)
        }
        try store.importHealthRuns([run("lb-a", 0, 9.99, passed: true), run("lb-a", 10, 19.99, passed: false),
                                    run("lb-a", 20, 30, passed: true), run("lb-b", 0, 30, passed: true)])
        try status(10, "lb-a", .up, .down, .traffic)
        try status(12, "lb-b", .up, .down, .check)
        try status(14, "lb-b", .down, .up, .check)
        try status(20, "lb-a", .down, .up, .check)
    }

    @Test(arguments: ["sqlite", "postgres"])
    func whyAndBackendsAtSayWhichInstanceSawWhat(_ engine: String) throws {
        let folder = try TestFolder()
        let database = engine == "sqlite" ? folder.path("fleet.sqlite3") : try PostgresTestServer.shared.get().makeDatabase()
        try Self.seed(try Store(location: StoreLocation(parsing: database)))
        let lbctl = folder.lbctl

        let table = try lbctl.run(["--db", database, "backends", "--at", IncidentLog.instant(11)])
        #expect(table.status == 0, "\(table.standardError)")
        #expect(table.standardOutput.contains("down on 1 of 2"), "\(table.standardOutput)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(
            try lbctl.run(["--db", database, "backends", "--at", IncidentLog.instant(11), "--json"]).standardOutput.utf8))
            as? [[String: Any]])
        let views = try #require(rows.first?["instances"] as? [[String: Any]])
        #expect(views.map { "\($0["instance"]!) \($0["health"]!)" } == ["lb-a down", "lb-b up"])
        #expect(views.first?["health_since"] as? String == TimeText.rfc3339(Self.at(10)))
        let agreeing = try lbctl.run(["--db", database, "backends", "--at", IncidentLog.instant(30)])
        #expect(agreeing.standardOutput.contains("up on 2 of 2"), "\(agreeing.standardOutput)")

        // lb-a's period runs to lb-a's own next change (02:20), not to lb-b's at 02:12 or 02:14.
        let why = try lbctl.run(["--db", database, "why", Self.url, "--at", IncidentLog.instant(15)])
        #expect(why.status == 0, "\(why.standardError)")
        let text = why.standardOutput
        #expect(text.contains("was down from \(TimeDisplay(utc: true).milliseconds(Self.at(10))) to \(TimeDisplay(utc: true).milliseconds(Self.at(20)))"), "\(text)")
        #expect(text.contains("seen by lb-a"), "\(text)")
        #expect(text.contains("they disagreed: 1 of 2 saw it down"), "\(text)")
        #expect(text.contains("lb-b: up since \(TimeDisplay(utc: true).milliseconds(Self.at(14)))"), "\(text)")
        let json = try JSONDocument.object(try lbctl.run(["--db", database, "why", Self.url, "--at", IncidentLog.instant(15),
                                                          "--json"]).standardOutput)
        #expect(json["instance"] as? String == "lb-a")
        #expect(json["cause"] as? String == "traffic")
        #expect((json["instances"] as? [[String: Any]])?.map { "\($0["instance"]!) \($0["health"]!)" } == ["lb-a down", "lb-b up"])

        // Where only lb-b saw it down, the period is lb-b's.
        let onlyB = try JSONDocument.object(try lbctl.run(["--db", database, "why", Self.url, "--at", IncidentLog.instant(13),
                                                           "--json"]).standardOutput)
        #expect(onlyB["state"] as? String == "down")
        // lb-a has been down since 02:10 too, and longest: its period is the one explained.
        #expect(onlyB["instance"] as? String == "lb-a")
        #expect((onlyB["instances"] as? [[String: Any]])?.allSatisfy { $0["health"] as? String == "down" } == true)
        // Each daemon's checks are measured apart: lb-a's two thirds, lb-b's all; the fleet's
        // share is of their checked time together.
        let history = try JSONDocument.object(try lbctl.run(["--db", database, "history", Self.url, "--json",
                                                              "--since", IncidentLog.instant(0), "--until", IncidentLog.instant(30)]).standardOutput)
        let uptimes = (history["instances"] as? [[String: Any]])?.map { "\($0["instance"]!) \(String(format: "%.3f", $0["uptime"] as? Double ?? -1))" }
        #expect(uptimes == ["lb-a 0.667", "lb-b 1.000"], "\(history)")
        #expect(abs((history["uptime"] as? Double ?? 0) - 5.0 / 6.0) < 0.001, "\(history)")
        #expect((history["runs"] as? [[String: Any]])?.count == 4)
        let historyText = try lbctl.run(["--db", database, "history", Self.url, "--since", IncidentLog.instant(0),
                                         "--until", IncidentLog.instant(30)]).standardOutput
        #expect(historyText.contains("lb-a: uptime 66.67%, 1801 checks"), "\(historyText)")

        // The audit's timeline names the daemon that saw each change.
        let audit = try lbctl.run(["--db", database, "audit", "--from", IncidentLog.instant(0), "--to", IncidentLog.instant(30)])
        #expect(audit.status == 0, "\(audit.standardError)")
        let lines = audit.standardOutput.split(separator: "\n").filter { $0.contains("status_change") }
        #expect(lines.count == 4 && lines[0].contains("lb-a") && lines[1].contains("lb-b"), "\(audit.standardOutput)")
        let after = try lbctl.run(["--db", database, "why", Self.url, "--at", IncidentLog.instant(25)])
        #expect(after.standardOutput.contains("not down, drained or disabled then"), "\(after.standardOutput)")
    }
}
