import Foundation
import LBStore
import Testing

/// The audit page's SVG timeline: no two pieces of text overlap, however crowded the window.
@Suite struct AuditTimelineLabelTests {
    /// A text element's box as a browser would lay it out, estimated: about 0.6 em a character
    /// (0.66 em bold), from 0.8 em above the baseline to 0.25 em below.
    struct TextBox: CustomStringConvertible {
        var content: String
        var left: Double
        var right: Double
        var top: Double
        var bottom: Double

        func overlaps(_ other: TextBox) -> Bool {
            left < other.right && other.left < right && top < other.bottom && other.top < bottom
        }

        var description: String { "'\(content)' x \(Int(left))...\(Int(right)) y \(Int(top))...\(Int(bottom))" }
    }

    /// Every `<text>` of `svg` as a box; a `<title>` inside one is a tooltip, not drawn.
    static func textBoxes(_ svg: String) throws -> [TextBox] {
        let element = try Regex(#"<text([^>]*)>(.*?)</text>"#)
        return svg.matches(of: element).compactMap { match -> TextBox? in
            let attributes = String(match.output[1].substring ?? "")
            func attribute(_ name: String) -> String? {
                guard let found = attributes.firstMatch(of: try! Regex(" \(name)=\"([^\"]*)\"")) else { return nil }
                return found.output[1].substring.map(String.init)
            }
            guard let x = attribute("x").flatMap(Double.init), let y = attribute("y").flatMap(Double.init) else { return nil }
            let size = attribute("font-size").flatMap(Double.init) ?? 12
            let bold = attribute("font-weight") == "bold"
            let content = String(match.output[2].substring ?? "")
                .replacing(try! Regex("<title>.*?</title>"), with: "")
                .replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            let width = Double(content.count) * size * (bold ? 0.66 : 0.6)
            let left: Double
            switch attribute("text-anchor") {
            case "middle": left = x - width / 2
            case "end": left = x - width
            default: left = x
            }
            return TextBox(content: content, left: left, right: left + width, top: y - size * 0.8, bottom: y + size * 0.25)
        }
    }

    static func overlaps(in svg: String) throws -> [String] {
        let boxes = try textBoxes(svg)
        var found: [String] = []
        for (index, box) in boxes.enumerated() {
            for other in boxes[(index + 1)...] where box.overlaps(other) { found.append("\(box) and \(other)") }
        }
        return found
    }

    /// A crowded half hour: eight restarts within a minute, an operator toggling a backend every
    /// few seconds, a long URL, outages and spans without a balancer.
    static func crowded(_ path: String) throws {
        func at(_ minutes: Int64, _ seconds: Int64 = 0) -> Timestamp { EventsCommandTests.at(minutes: minutes, seconds: seconds) }
        let store = try Store(path: path)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: at(-60))
        let long = try store.addBackend(url: "https://a-very-long-backend-host-name.internal.example.com:8443/api/v1",
                                        actor: "t", at: at(-60))
        for index in 0..<8 {
            let kind: EventKind = index % 2 == 0 ? .startup : .shutdown
            try store.record(Event(at: at(3, Int64(index) * 5), kind: kind, detail: "lbserver", instance: "lb-a"))
        }
        try store.record(Event(at: at(4), kind: .startup, detail: "lbserver", instance: "lb-a"))
        for index in 0..<12 {
            let state: AdminState = index % 2 == 0 ? .drained : .enabled
            try store.setAdminState(state, url: a.url, actor: "alice", at: at(6, Int64(index) * 4))
            try store.setWeight(index + 2, url: long.url, actor: "bob", at: at(6, Int64(index) * 4 + 1))
        }
        for minute in stride(from: Int64(10), to: 28, by: 2) {
            try store.record(Event(at: at(minute), kind: .statusChange, backendID: a.id, detail: "up->down", instance: "lb-a"))
            try store.record(Event(at: at(minute), kind: .statusChange, backendID: long.id, detail: "up->down", instance: "lb-a"))
            try store.record(Event(at: at(minute, 30), kind: .statusChange, backendID: a.id, detail: "down->up", instance: "lb-a"))
            try store.record(Event(at: at(minute, 40), kind: .statusChange, backendID: long.id, detail: "down->up", instance: "lb-a"))
        }
        try store.record(Event(at: at(28), kind: .shutdown, detail: "lbserver", instance: "lb-a"))
    }

    @Test func noTwoLabelsOfACrowdedTimelineOverlap() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        try Self.crowded(path)
        let file = folder.path("report.html")
        let result = try folder.lbctl.run(["--db", path, "audit", "--html", file] + AuditCoverageTests.window)
        #expect(result.status == 0, "\(result.standardError)")
        let html = try String(contentsOfFile: file, encoding: .utf8)
        let svg = String(try #require(html.firstRange(of: "<svg").map { html[$0.lowerBound...] }))
        let boxes = try Self.textBoxes(svg)
        // Labels are placed, not all dropped: restarts, actions, outages, no balancer, the legend.
        for label in ["startup", "shutdown", "drained", "weight", "outage", "no balancer", "balancer start / stop"] {
            #expect(boxes.contains { $0.content == label }, "no label '\(label)'")
        }
        #expect(try Self.overlaps(in: svg) == [])
    }

    @Test func theOverlapCheckFindsOverlappingText() throws {
        let svg = """
            <text x="300" y="50" font-size="10">startup</text>
            <text x="301" y="50" font-size="10"><title>x</title>shutdown</text>
            <text x="400" y="50" font-size="10">apart</text>
            """
        #expect(try Self.overlaps(in: svg).count == 1)
    }
}
