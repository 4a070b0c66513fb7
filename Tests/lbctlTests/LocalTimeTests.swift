import Foundation
import LBStore
import Testing
@testable import lbctl

/// Text shows local time with its offset, from `TZ` as `date` reads it, right on both sides of a
/// daylight-saving change; `--utc` and `TZ=UTC` show UTC; `--json` and `--csv` stay RFC 3339 UTC;
/// and what the text shows pasted back as a time means the same instant. Proved on the real binary.
@Suite struct LocalTimeTests {
    /// Berlin leaves summer time at 2026-10-25 01:00Z (03:00 CEST becomes 02:00 CET, so 02:30
    /// happens twice) and enters it at 2026-03-29 01:00Z (02:00 CET becomes 03:00 CEST).
    static let instants: [(utc: String, berlin: String)] = [
        ("2026-03-29T00:59:59.250Z", "2026-03-29 01:59:59.250+01:00"),
        ("2026-03-29T01:00:00.000Z", "2026-03-29 03:00:00.000+02:00"),
        ("2026-10-25T00:30:00.000Z", "2026-10-25 02:30:00.000+02:00"),
        ("2026-10-25T00:59:59.999Z", "2026-10-25 02:59:59.999+02:00"),
        ("2026-10-25T01:00:00.000Z", "2026-10-25 02:00:00.000+01:00"),
        ("2026-10-25T01:30:00.000Z", "2026-10-25 02:30:00.000+01:00"),
        ("2026-12-03T08:14:05.000Z", "2026-12-03 09:14:05.000+01:00"),
    ]

    /// One backend and an admin change (a drain) at each of `instants`, with request ids in order.
    static func seed(_ path: String) throws -> Backend {
        let store = try Store(path: path)
        let first = try #require(TimeParsing.timestamp(fromRFC3339: instants[0].utc))
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: first.adding(milliseconds: -60_000))
        for (index, instant) in instants.enumerated() {
            let at = try #require(TimeParsing.timestamp(fromRFC3339: instant.utc))
            try store.record(Event(at: at, kind: .failure, backendID: backend.id, requestID: "r\(index)",
                                   detail: "connection refused"))
        }
        return backend
    }

    static let window = ["--since", "2026-01-01T00:00:00Z", "--until", "2027-01-01T00:00:00Z", "--kind", "failure"]

    /// The AT column of `lbctl events` as text.
    static func printedTimes(_ output: String) -> [String] {
        output.split(separator: "\n").dropFirst().map { line in
            // The time is the first 29 characters (or 24 in UTC): up to the first double space.
            String(line[..<line.range(of: "  ")!.lowerBound])
        }
    }

    @Test func eventsShowBerlinTimeWithTheRightOffsetEitherSideOfEachChange() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        let berlin = try folder.lbctl.run(["--db", path, "events"] + Self.window, environment: ["TZ": "Europe/Berlin"])
        #expect(berlin.status == 0, "\(berlin.standardError)")
        #expect(Self.printedTimes(berlin.standardOutput) == Self.instants.map(\.berlin), "\(berlin.standardOutput)")

        // TZ=UTC and --utc both print UTC with Z; --utc before the command too.
        let utc = Self.instants.map { $0.utc.replacingOccurrences(of: "T", with: " ") }
        let tzUTC = try folder.lbctl.run(["--db", path, "events"] + Self.window, environment: ["TZ": "UTC"])
        #expect(Self.printedTimes(tzUTC.standardOutput) == utc)
        for arguments in [["--db", path, "events", "--utc"] + Self.window, ["--utc", "--db", path, "events"] + Self.window] {
            let flag = try folder.lbctl.run(arguments, environment: ["TZ": "Europe/Berlin"])
            #expect(flag.status == 0, "\(flag.standardError)")
            #expect(Self.printedTimes(flag.standardOutput) == utc, "\(arguments)")
        }
        // A zone west of UTC.
        let newYork = try folder.lbctl.run(["--db", path, "events"] + Self.window, environment: ["TZ": "America/New_York"])
        #expect(Self.printedTimes(newYork.standardOutput).last == "2026-12-03 03:14:05.000-05:00")
    }

    @Test func machineOutputStaysRFC3339UTCWhateverTheZone() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let backend = try Self.seed(path)
        for command in [["events", "--json"] + Self.window, ["events", "--csv"] + Self.window,
                        ["backends", "--json"], ["backends", "--csv"], ["history", backend.url, "--json", "--since", "2026-01-01T00:00:00Z", "--until", "2027-01-01T00:00:00Z"],
                        ["instances", "--json"], ["why", backend.url, "--json", "--at", Self.instants[3].utc],
                        ["audit", "--json", "--since", "2026-03-01T00:00:00Z", "--until", "2026-12-31T00:00:00Z"]] {
            let berlin = try folder.lbctl.run(["--db", path] + command, environment: ["TZ": "Europe/Berlin"])
            let utc = try folder.lbctl.run(["--db", path] + command, environment: ["TZ": "UTC"])
            #expect(berlin.status == 0, "\(command): \(berlin.standardError)")
            // Only the "generated" and "now"-relative parts could differ: compare without them.
            let strip = { (text: String) in
                text.split(separator: "\n").filter { !$0.contains("generated_at") && !$0.contains("heartbeat_age") }
            }
            #expect(strip(berlin.standardOutput) == strip(utc.standardOutput), "\(command)")
        }
        let json = try JSONDocument.array(try folder.lbctl.run(["--db", path, "events", "--json"] + Self.window,
                                                               environment: ["TZ": "Europe/Berlin"]).standardOutput)
        #expect(json.map { $0["at"] as? String } == Self.instants.map(\.utc))
    }

    @Test func aPrintedTimePastedBackMeansTheSameInstantEvenInTheHourThatHappensTwice() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let backend = try Self.seed(path)
        let environment = ["TZ": "Europe/Berlin"]
        let printed = Self.printedTimes(try folder.lbctl.run(["--db", path, "events"] + Self.window,
                                                             environment: environment).standardOutput)
        #expect(printed.count == Self.instants.count)
        for (index, text) in printed.prefix(Self.instants.count).enumerated() {
            // --since the printed time starts at that very event, and --until it stops just before.
            let since = try folder.lbctl.run(["--db", path, "events", "--json", "--kind", "failure", "--since", text],
                                             environment: environment)
            #expect(since.status == 0, "\(text): \(since.standardError)")
            let first = try JSONDocument.array(since.standardOutput).first
            #expect(first?["request_id"] as? String == "r\(index)", "--since \(text)")
            #expect(first?["at"] as? String == Self.instants[index].utc, "--since \(text)")
            let until = try folder.lbctl.run(["--db", path, "events", "--json", "--kind", "failure", "--since", "2026-01-01",
                                              "--until", text], environment: environment)
            #expect(try JSONDocument.array(until.standardOutput).count == index, "--until \(text)")
            // --at reads it as the same instant.
            let at = try folder.lbctl.run(["--db", path, "backends", "--at", text, "--json"], environment: environment)
            #expect(at.status == 0, "\(text): \(at.standardError)")
            #expect(try JSONDocument.array(at.standardOutput).first?["at"] as? String == Self.instants[index].utc)
        }
        // The time `backends --at` echoes, and a whole-second time from a table, read back alike.
        let table = try folder.lbctl.run(["--db", path, "backends", "--at", printed[5]], environment: environment)
        #expect(table.standardOutput.hasPrefix("registry at \(printed[5]) ("), "\(table.standardOutput)")
        let history = try folder.lbctl.run(["--db", path, "history", backend.url, "--since", "2026-10-25 02:30:00+01:00",
                                            "--until", "2026-10-25 02:59:00+01:00", "--json"], environment: environment)
        let window = try JSONDocument.object(history.standardOutput)
        #expect(window["from"] as? String == "2026-10-25T01:30:00.000Z" && window["to"] as? String == "2026-10-25T01:59:00.000Z")
    }

    @Test func theFastWriterMatchesTheCLibraryAcrossAYearOfBerlinHours() throws {
        // The per-hour cache against the offsets the C library gives for every instant, run in a
        // child process so this test process's own zone stays as it is.
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t",
                                           at: try #require(TimeParsing.timestamp(fromRFC3339: "2026-01-01T00:00:00Z")))
        let start = try #require(TimeParsing.timestamp(fromRFC3339: "2026-03-28T22:07:30.5Z"))
        // Every 37 minutes across both changes of 2026 (the spring one and, 211 days on, the autumn one).
        var expected: [String] = []
        var instant = start
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Europe/Berlin")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSxxx"
        var events: [Event] = []
        while instant.milliseconds < start.milliseconds + 211 * 86_400_000 + 86_400_000 {
            if instant.milliseconds < start.milliseconds + 86_400_000 || instant.milliseconds > start.milliseconds + 210 * 86_400_000 {
                events.append(Event(at: instant, kind: .attempt, backendID: backend.id))
                expected.append(formatter.string(from: instant.date))
            }
            instant = instant.adding(milliseconds: 37 * 60_000)
        }
        for event in events { try store.record(event) }
        let printed = Self.printedTimes(try folder.lbctl.run(["--db", path, "events", "--kind", "attempt", "--since", "2026-01-01"],
                                                             environment: ["TZ": "Europe/Berlin"]).standardOutput)
        #expect(printed.count == expected.count)
        #expect(printed == expected)
    }

    @Test func aLocalTimeTypedAndTheSameTimeShownAgreeWhateverTheZoneSays() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        // An IANA name, a zone west of UTC, and a POSIX rule (which only the C library reads:
        // Foundation, which reads typed times, takes the system's zone then, and so does the text).
        for zone in ["Europe/Berlin", "America/New_York", "CET-1CEST,M3.5.0,M10.5.0/3"] {
            let result = try folder.lbctl.run(["--db", path, "backends", "--at", "2026-11-01 09:14:05"], environment: ["TZ": zone])
            #expect(result.status == 0, "\(zone): \(result.standardError)")
            #expect(result.standardOutput.hasPrefix("registry at 2026-11-01 09:14:05.000"), "\(zone): \(result.standardOutput)")
        }
    }
}
