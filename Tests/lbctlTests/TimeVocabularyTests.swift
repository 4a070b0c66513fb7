import Foundation
import LBStore
import Testing

/// One time vocabulary across commands: `--since/--until` everywhere, `--from/--to` their aliases,
/// and every form of time read by the real binary in the zone TZ names.
@Suite struct TimeVocabularyTests {
    /// The ids `lbctl events` prints for `arguments`, run with `TZ=zone`.
    private func eventIDs(_ folder: TestFolder, _ path: String, _ arguments: [String], zone: String = "UTC") throws -> [Int] {
        let result = try folder.lbctl.run(["--db", path, "events", "--json"] + arguments, environment: ["TZ": zone])
        #expect(result.status == 0, "\(arguments): \(result.standardError)")
        return try JSONDocument.array(result.standardOutput).compactMap { $0["id"] as? Int }
    }

    @Test func sinceAndUntilAndFromAndToMeanTheSameOnEveryCommand() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, _) = try EventsCommandTests.seed(path)
        let window = ["--since", "2026-11-20T02:10:00Z", "--until", "2026-11-20T02:20:00Z"]
        let aliased = ["--from", "2026-11-20T02:10:00Z", "--to", "2026-11-20T02:20:00Z"]
        for command in [["events", "--json"], ["history", a.url, "--json"], ["audit", "--json"]] {
            let primary = try folder.lbctl.run(["--db", path] + command + window)
            let alias = try folder.lbctl.run(["--db", path] + command + aliased)
            #expect(primary.status == 0, "\(command): \(primary.standardError)")
            #expect(!primary.standardOutput.isEmpty)
            // The audit's generated_at differs from run to run; everything else must not.
            let strip = { (text: String) in text.split(separator: "\n").filter { !$0.contains("generated_at") } }
            #expect(strip(primary.standardOutput) == strip(alias.standardOutput), "\(command)")
        }
        let ids = try eventIDs(folder, path, window)
        #expect(ids.count == 11, "failures at 10..19 and the retry at 10:01")
        let mixed = try eventIDs(folder, path, ["--from", "2026-11-20T02:10:00Z", "--until", "2026-11-20T02:20:00Z"])
        #expect(mixed == ids)

        let missing = try folder.lbctl.run(["--db", path, "audit"])
        #expect(missing.status == 64, "the window's start is required, under either name")
        #expect(missing.standardError.contains("--since"), "\(missing.standardError)")
    }

    @Test func localTimesAreReadInTheZoneTZNames() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try EventsCommandTests.seed(path)
        let utc = try eventIDs(folder, path, ["--since", "2026-11-20T02:10:00Z", "--until", "2026-11-20T02:20:00Z"])
        // 03:10 in Berlin (UTC+1 in November) is 02:10Z.
        #expect(try eventIDs(folder, path, ["--since", "2026-11-20 03:10", "--until", "2026-11-20 03:20:00"],
                             zone: "Europe/Berlin") == utc)
        #expect(try eventIDs(folder, path, ["--since", "2026-11-20 02:10", "--until", "2026-11-20T02:20"]) == utc)
        #expect(try eventIDs(folder, path, ["--since", "2026-11-19 21:10", "--until", "2026-11-19 21:20"],
                             zone: "America/New_York") == utc)
        // A date alone is its midnight: the whole seeded hour is on the 20th in UTC, none of it on the 19th.
        let all = try eventIDs(folder, path, ["--since", "2026-11-01T00:00:00Z"])
        #expect(all.count >= 67)
        #expect(try eventIDs(folder, path, ["--since", "2026-11-20", "--until", "2026-11-21"]) == all)
        #expect(try eventIDs(folder, path, ["--since", "2026-11-19", "--until", "2026-11-20"]).isEmpty)
    }

    @Test func relativeAndNamedTimesAreAcceptedAndABareNumberIsRefusedWithAHint() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try EventsCommandTests.seed(path)
        // The seed lies in the past: every one of these windows up to now holds nothing newer.
        for since in ["2h", "2h ago", "1h30m ago", "today", "yesterday", "00:00", "now"] {
            let result = try folder.lbctl.run(["--db", path, "events", "--json", "--since", since, "--until", "now"])
            #expect(result.status == 0, "\(since): \(result.standardError)")
        }
        let all = try eventIDs(folder, path, ["--since", "2026-11-01T00:00:00Z"])
        #expect(try eventIDs(folder, path, ["--since", "2026-11-01 00:00", "--until", "now"]) == all)
        #expect(try eventIDs(folder, path, ["--since", "2026-11-01 00:00", "--until", "0s ago"]) == all)

        let bare = try folder.lbctl.run(["--db", path, "events", "--since", "10"])
        #expect(bare.status == 65)
        #expect(bare.errorLines == ["lbctl: time '10' for --since has no unit: add a unit: 10s (that long ago)"])
        let age = try folder.lbctl.run(["--db", path, "prune", "--older-than", "30"])
        #expect(age.status == 65)
        #expect(age.errorLines == ["lbctl: duration '30' for --older-than has no unit: add a unit: 30s"])
        let at = try folder.lbctl.run(["--db", path, "why", "http://127.0.0.1:9001", "--at", "1700000000"])
        #expect(at.status == 65)
        #expect(at.standardError.contains("has no unit"), "\(at.standardError)")
    }
}
