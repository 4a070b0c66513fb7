import Foundation
import LBStore
import Testing
@testable import LBStore
@testable import lbctl

/// On an 80-column terminal no line of any table command is longer than 80 characters: URLs lose
/// `http://` and the middle of a long host, free text is cut with `…`, the least needed columns
/// go; `--wide` prints everything, and so does a pipe or a file. Proved on the real binary
/// writing to a pseudo-terminal of a set size, on a database with long names of every kind.
@Suite(.serialized) struct TableWidthTests {
    static let longURL = "http://backend-number-one.production.internal.example.com:8080"
    static let longHTTPS = "https://api-gateway-eu-west-1.payments.example.org:8443/v1/health"
    static let youngURL = "http://10.0.0.77:8080"
    static let longDetail = "connection reset by peer while reading the response head after 3 retries; "
        + "the upstream closed the socket (ECONNRESET) and the pool marked it suspect"
    static let longRequest = "0f8fad5b-d9cb-469f-a165-70867728950e"

    /// `IncidentLog` (why and backends --at), plus backends with long URLs checked over the last
    /// day, a young one checked for 80 s, events with long details and request ids, and two daemons
    /// with long host names.
    static func seed(_ path: String) throws {
        let log = try IncidentLog.write(to: path)
        let store = log.store
        let now = Timestamp.now()
        let hour: Int64 = 3_600_000
        let long = try store.addBackend(url: longURL, actor: "t", at: now.adding(milliseconds: -30 * hour))
        let https = try store.addBackend(url: longHTTPS, weight: 12, actor: "t", at: now.adding(milliseconds: -30 * hour))
        let young = try store.addBackend(url: youngURL, actor: "t", at: now.adding(milliseconds: -81_000))
        let writer = try EventWriter(path: path)
        for offset in stride(from: -24, through: 0, by: 1) {
            let at = now.adding(milliseconds: Int64(offset) * hour)
            writer.record(CheckResult(backendID: long.id, at: at, passed: offset != -5, latencyMilliseconds: 12.25,
                                      error: offset == -5 ? longDetail : nil))
            writer.record(CheckResult(backendID: https.id, at: at, passed: true, latencyMilliseconds: 150.5))
            writer.record(Event(at: at, kind: offset % 3 == 0 ? .suspectRequest : .failure, backendID: long.id,
                                requestID: longRequest, attempt: 2, detail: longDetail))
        }
        for second in stride(from: 80, through: 0, by: -20) {
            writer.record(CheckResult(backendID: young.id, at: now.adding(milliseconds: -Int64(second) * 1_000),
                                      passed: true, latencyMilliseconds: 1))
        }
        #expect(writer.flush())
        writer.close()
        try store.withConnection { connection in
            for (name, host) in [("lb-eu-west-1a", "ip-172-31-44-201.eu-west-1.compute.internal"),
                                 ("lb-eu-west-1b", "ip-172-31-45-17.eu-west-1.compute.internal")] {
                try Store.registerInstance(InstanceIdentity(name: name, host: host, pid: 4_194_301, listen: "[::]:443",
                                                            version: "1.4.0-rc.2+build.20261203"),
                                           at: now.adding(milliseconds: -40_000), in: connection)
            }
        }
    }

    /// The table commands, each as it is run.
    static let commands: [[String]] = [
        ["backends"], ["backends", "--all"], ["backends", "--at", IncidentLog.instant(7)],
        ["events", "--since", "2026-01-01"], ["events", "--kind", "status_change,admin_change", "--since", "2026-01-01"],
        ["history", longURL], ["history", IncidentLog.urls.a, "--since", IncidentLog.instant(-60), "--until", IncidentLog.instant(60)],
        ["instances"], ["why", IncidentLog.urls.e], ["why", IncidentLog.urls.b, "--at", IncidentLog.instant(7)],
        ["why", IncidentLog.urls.a, "--at", IncidentLog.instant(5)],
        ["audit", "--since", IncidentLog.instant(-60), "--until", IncidentLog.instant(60)],
    ]

    /// The lines of `output` as a terminal shows them: escape codes take no columns.
    static func lines(_ output: String) -> [String] {
        var visible = ""
        var inEscape = false
        for character in output {
            if character == "\u{1B}" { inEscape = true }
            if !inEscape { visible.append(character) }
            if inEscape && character.isLetter { inEscape = false }
        }
        return visible.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test func everyTableCommandFitsAnEightyColumnTerminal() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        try Self.seed(path)
        // Berlin: the longest times (with an offset); colour on, as a person at a terminal has it.
        for command in Self.commands {
            let output = try PseudoTerminal.run(folder, ["--db", path] + command, environment: ["TZ": "Europe/Berlin"],
                                                columns: 80)
            let lines = Self.lines(output)
            #expect(lines.count > 2, "\(command): \(output)")
            for line in lines {
                #expect(line.count <= 80, "\(command): \(line.count) columns: \(line)")
            }
            let wide = try PseudoTerminal.run(folder, ["--db", path] + command + ["--wide"],
                                              environment: ["TZ": "Europe/Berlin"], columns: 80)
            #expect(Self.lines(wide).contains { $0.count > 80 }, "\(command) --wide prints in full")
        }
    }

    @Test func aNarrowTableShortensURLsAndTextAndSaysHowLongAYoungBackendWasObserved() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        try Self.seed(path)
        let environment = ["TZ": "Europe/Berlin", "NO_COLOR": "1"]
        let backends = Self.lines(try PseudoTerminal.run(folder, ["--db", path, "backends"], environment: environment, columns: 80))
        // http:// dropped from every row, the middle of the long host elided, the port kept;
        // https:// kept, as it says how the backend is reached.
        #expect(backends.dropFirst().allSatisfy { !$0.hasPrefix("http://") }, "\(backends)")
        let long = try #require(backends.first { $0.hasPrefix("bac") && $0.contains(".com:8080 ") }, "\(backends)")
        #expect(long.contains("…"), "\(long)")
        #expect(backends.contains { $0.hasPrefix("https://api-") && $0.contains("…") })
        #expect(backends.contains { $0.hasPrefix("127.0.0.1:9001 ") })
        let young = try #require(backends.first { $0.hasPrefix("10.0.0.77:8080 ") })
        #expect(young.contains("100.00% over 1m 2") || young.contains("100.00% over 1m 1"), "\(young)")
        // What a narrow terminal leaves out first.
        #expect(!backends[0].contains("ORIGIN") && backends[0].contains("UPTIME 24H") && backends[0].contains("HEALTH"))

        let events = Self.lines(try PseudoTerminal.run(folder, ["--db", path, "events", "--kind", "failure"],
                                                       environment: environment, columns: 80))
        let failure = try #require(events.first { $0.contains(" failure ") && $0.contains(".com:8080") }, "\(events)")
        #expect(failure.hasSuffix("…") && failure.contains("connection reset"), "\(failure)")
        // Times keep their zone, to the second.
        #expect(failure.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d "#, options: .regularExpression) != nil)

        // A wider terminal, or COLUMNS, fits that width instead.
        let wider = Self.lines(try PseudoTerminal.run(folder, ["--db", path, "events", "--kind", "failure"],
                                                      environment: environment, columns: 132))
        #expect(wider.allSatisfy { $0.count <= 132 } && wider.contains { $0.count > 80 })
        let columns = Self.lines(try PseudoTerminal.run(folder, ["--db", path, "events", "--kind", "failure"],
                                                        environment: environment.merging(["COLUMNS": "100"]) { $1 },
                                                        columns: 80))
        #expect(columns.allSatisfy { $0.count <= 100 } && columns.contains { $0.count > 80 })
    }

    @Test func wideAndAPipePrintEverythingInFull() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        try Self.seed(path)
        let environment = ["TZ": "Europe/Berlin", "NO_COLOR": "1"]
        for command in [["backends"], ["events", "--kind", "failure"], ["history", Self.longURL], ["instances"]] {
            let wide = try PseudoTerminal.run(folder, ["--db", path] + command + ["--wide"], environment: environment, columns: 80)
            let piped = try folder.lbctl.run(["--db", path] + command, environment: environment)
            #expect(piped.status == 0)
            for output in [wide, piped.standardOutput] {
                #expect(!output.contains("…"), "\(command): \(output)")
            }
        }
        let backends = try folder.lbctl.run(["--db", path, "backends"], environment: environment).standardOutput
        #expect(backends.contains(Self.longURL + " ") && backends.contains(Self.longHTTPS + " ") && backends.contains("ORIGIN"))
        let events = try folder.lbctl.run(["--db", path, "events", "--kind", "failure"], environment: environment).standardOutput
        #expect(events.contains(Self.longRequest) && events.contains(Self.longDetail) && events.contains("ATTEMPT"))
        let instances = try folder.lbctl.run(["--db", path, "instances"], environment: environment).standardOutput
        #expect(instances.contains("ip-172-31-44-201.eu-west-1.compute.internal") && instances.contains("1.4.0-rc.2+build.20261203"))
        // COLUMNS alone does not cut what goes into a pipe: scripts read it whole.
        let columns = try folder.lbctl.run(["--db", path, "backends"], environment: environment.merging(["COLUMNS": "80"]) { $1 })
        #expect(columns.standardOutput.contains(Self.longURL + " "))
    }

    @Test func aURLShortensToTheWidthKeepingItsPortAndItsEnd() {
        #expect(TableFormatter.shortenedURL("http://10.0.0.1:8080", to: 30) == "10.0.0.1:8080")
        #expect(TableFormatter.shortenedURL(Self.longURL, to: 30) == "backend-numb….example.com:8080")
        #expect(TableFormatter.shortenedURL(Self.longURL, to: 30).count == 30)
        #expect(TableFormatter.shortenedURL("http://a.example:80 (removed)", to: 40) == "a.example:80 (removed)")
        #expect(TableFormatter.shortenedURL("https://very-long-host-name.example.com:443", to: 30).hasPrefix("https://"))
        #expect(TableFormatter.shortenedURL("http://[2001:db8::1]:8080", to: 40) == "[2001:db8::1]:8080")
        #expect(TableFormatter.cut("abcdef", to: 4) == "abc…")
        #expect(TableFormatter.cut("abc", to: 4) == "abc")
    }

    @Test func aTableGivesUpCompactTextThenShrinksThenHidesAndNeverExceedsTheWidth() {
        let columns: [TableFormatter.Column] = [
            .init("AT", shrink: .compact), .init("NAME", shrink: .url(minimum: 12)), .init("N", .right, hidePriority: 1),
            .init("TEXT", shrink: .text(minimum: 10)),
        ]
        let rows: [[TableFormatter.Cell]] = [
            [.init("2026-12-03 09:14:05.123+01:00", compact: "2026-12-03 09:14:05+01:00"), .init(Self.longURL), "7",
             .init(Self.longDetail)],
        ]
        let full = TableFormatter(columns: columns, colour: false).render(rows)
        #expect(full.contains(Self.longURL) && full.contains(Self.longDetail) && full.contains(".123"))
        for width in [120, 80, 60, 40, 20, 8] {
            let fitted = TableFormatter(columns: columns, colour: false, width: width).render(rows)
            for line in fitted.split(separator: "\n") { #expect(line.count <= width, "\(width): \(line)") }
        }
        let eighty = TableFormatter(columns: columns, colour: false, width: 80).render(rows)
        #expect(!eighty.contains(".123") && eighty.contains("2026-12-03 09:14:05+01:00"))
        #expect(eighty.contains("  7  "), "the hidden column is the last resort: \(eighty)")
        // At its minimum the row takes 25 + 12 + 1 + 10 and the gaps, 54: under that N goes.
        let narrow = TableFormatter(columns: columns, colour: false, width: 50).render(rows)
        #expect(!narrow.contains("  7  ") && narrow.contains("2026-12-03 09:14:05+01:00"), "\(narrow)")
    }

    @Test func proseLinesWrapAtSpacesButNeverInsideATime() {
        let line = "http://127.0.0.1:9001 was down from 2026-12-03 09:14:05.123+01:00 to 2026-12-03 10:14:05.123+01:00 (1h 00m).\n"
        let wrapped = LineWrap.wrap(line, width: 60)
        let lines = wrapped.split(separator: "\n")
        #expect(lines.count == 3 && lines.allSatisfy { $0.count <= 60 }, "\(wrapped)")
        #expect(lines[1] == "    2026-12-03 09:14:05.123+01:00 to")
        #expect(wrapped.contains("2026-12-03 09:14:05.123+01:00") && wrapped.contains("2026-12-03 10:14:05.123+01:00"))
        #expect(LineWrap.wrap(line, width: nil) == line)
        let span = LineWrap.wrap("Post-incident report: 2026-11-20 02:00:00+01:00 to 2026-11-20 04:00:00+01:00 (2h 00m)\n", width: 80)
        #expect(span.hasSuffix("\n    (2h 00m)\n"), "\(span)")
    }
}
