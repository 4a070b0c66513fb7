import Foundation
import LBStore
import LBText
import Testing
@testable import lbctl

@Suite struct FormattingTests {
    @Test func tableColumnsAlignAndColourCodesDoNotShiftThem() {
        let rows: [[TableFormatter.Cell]] = [
            ["a", .init("up", style: .green), "1"],
            ["longer", .init("down", style: .red), "100"],
        ]
        let columns: [TableFormatter.Column] = [.init("NAME"), .init("HEALTH"), .init("N", .right)]
        let plain = TableFormatter(columns: columns, colour: false).render(rows)
        #expect(plain == """
            NAME    HEALTH    N
            a       up        1
            longer  down    100

            """)
        let coloured = TableFormatter(columns: columns, colour: true).render(rows)
        let stripped = coloured.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        #expect(stripped == plain)
        #expect(coloured.contains("\u{1B}[32mup\u{1B}[0m"))
    }

    @Test func controlCharactersInACellAreShownNotObeyed() {
        let cell = TableFormatter.Cell("line one\nline two \u{1B}[2J\tend")
        #expect(cell.text == "line one\\nline two \\u{1b}[2J\\tend")
    }

    @Test func jsonKeepsKeyOrderWritesNullAndEscapesStrings() {
        let value = JSONValue.object([
            ("z", .string("quote \" backslash \\ newline \n bell \u{07}")),
            ("a", .null),
            ("n", .integer(-3)),
            ("x", .number(0.5)),
            ("nan", .number(.nan)),
            ("list", .array([.bool(true), .optional(nil as String?)])),
        ])
        #expect(value.compact == #"{"z":"quote \" backslash \\ newline \n bell \u0007","a":null,"n":-3,"x":0.5,"nan":null,"list":[true,null]}"#)
        #expect(JSONValue.lines([]) == "[]\n")
        #expect(JSONValue.lines([.integer(1), .integer(2)]) == "[\n  1,\n  2\n]\n")
        #expect(JSONValue.object([("a", .array([]))]).pretty == "{\n  \"a\": []\n}")
    }

    @Test func csvQuotesOnlyFieldsThatNeedIt() {
        #expect(CSV.line(["plain", nil, "a,b", "say \"hi\"", "two\nlines"])
            == "plain,,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n")
    }

    @Test func durationsAndPercentagesReadLikeAPersonWritesThem() {
        #expect(TimeText.duration(milliseconds: 850) == "850ms")
        #expect(TimeText.duration(milliseconds: 42_000) == "42s")
        #expect(TimeText.duration(milliseconds: 303_000) == "5m 03s")
        #expect(TimeText.duration(milliseconds: 7_500_000) == "2h 05m")
        #expect(TimeText.duration(milliseconds: 86_400_000) == "24h 00m")
        #expect(TimeText.duration(milliseconds: 3 * 86_400_000 + 4 * 3_600_000) == "3d 4h")
        #expect(TimeText.percent(0.830508) == "83.05%")
        #expect(TimeText.percent(1) == "100.00%")
        #expect(TimeText.percent(nil) == "-")
        #expect(TimeText.seconds(Timestamp(milliseconds: 1_795_140_000_123)) == "2026-11-20T02:00:00Z")
    }

    @Test func statusAndAdminDetailsAreRead() {
        #expect(ChangeDetail.healthTransition("up->down after 3 failures") == (.up, .down))
        #expect(ChangeDetail.healthTransition("down -> up") == (.down, .up))
        #expect(ChangeDetail.healthTransition("marked down: connection refused") == (nil, .down))
        #expect(ChangeDetail.healthTransition("no idea") == (nil, nil))
        #expect(ChangeDetail.adminChange("admin_state enabled->drained by=alice") == .state(from: .enabled, to: .drained))
        #expect(ChangeDetail.adminChange("add weight=1 origin=runtime by=bob") == .added)
        #expect(ChangeDetail.adminChange("remove by=carol") == .removed)
        #expect(ChangeDetail.adminChange("weight 1->5 by=dave") == .weight)
        #expect(ChangeDetail.adminChange(nil) == .other)
    }

    @Test func aLaneSplitsTheWindowAtEachChangeAndCountsDowntimeOnlyWhileRegistered() {
        let start = Timestamp(milliseconds: 0)
        let range = TimeRange(start: start, end: Timestamp(milliseconds: 100))
        let backend = Backend(id: 1, url: "http://h:1", weight: 1, adminState: .enabled, health: .up, healthSince: start,
                              addedAt: start, removedAt: nil, origin: .runtime)
        func change(_ at: Int64, _ kind: EventKind, _ detail: String) -> Event {
            Event(at: Timestamp(milliseconds: at), kind: kind, backendID: 1, detail: detail)
        }
        let lane = BackendLane(backend: backend, range: range,
                               initial: BackendCondition(isRegistered: true, health: .up, adminState: .enabled),
                               changes: [
                                   change(10, .statusChange, "up->down"),
                                   change(20, .adminChange, "admin_state enabled->drained by=a"),
                                   change(40, .statusChange, "down->up"),
                                   change(60, .adminChange, "remove by=a"),
                                   change(80, .adminChange, "add weight=1 origin=runtime by=a"),
                               ])
        #expect(lane.segments.map(\.state) == [.up, .down, .drained, .notRegistered, .unknown])
        #expect(lane.segments.map(\.range.start.milliseconds) == [0, 10, 40, 60, 80])
        #expect(lane.segments.last?.range.end.milliseconds == 100)
        #expect(lane.downtimeMilliseconds == 30)
        #expect(lane.drainedMilliseconds == 40)
        #expect(lane.stateAtStart == .up)
        #expect(lane.stateAtEnd == .unknown)
    }

    @Test func theTimeAxisPicksARoundStepAlignedToTheClock() {
        let start = TimeParsing.timestamp(fromRFC3339: "2026-11-20T02:03:00Z")!
        let axis = TimeAxis(range: TimeRange(start: start, end: start.adding(milliseconds: 30 * 60_000)), times: TimeDisplay(utc: true))
        #expect(axis.stepMilliseconds == 300_000)
        #expect(axis.ticks.map(\.label) == ["02:05", "02:10", "02:15", "02:20", "02:25", "02:30"])
        let days = TimeAxis(range: TimeRange(start: start, end: start.adding(milliseconds: 3 * 86_400_000)), times: TimeDisplay(utc: true))
        #expect(days.ticks.first?.label == "11-20 12:00")
    }

    @Test func htmlTextIsEscaped() {
        #expect("<b a=\"1\">Tom & 'Jerry'</b>".htmlEscaped == "&lt;b a=&quot;1&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt;")
    }
}
