import LBText
import Foundation
import LBStore

/// Draws an audit window as an SVG picture: one lane per backend coloured by state, the density of
/// failures and retries under each lane, status changes and operator actions marked, a time axis
/// and a legend. Plain SVG: no script, no font or image fetched; hover titles give the details.
struct AuditTimelineSVG {
    var report: AuditReport

    private let width = 1240.0
    private let labelWidth = 290.0
    private let rightMargin = 30.0
    private let axisHeight = 34.0
    private let balancerLaneHeight = 50.0
    private let laneHeight = 80.0
    /// From a lane's top to its bar: room for action labels, then markers.
    private let barOffset = 30.0
    private let barHeight = 22.0
    private let densityHeight = 16.0
    private let legendHeight = 84.0

    private var plotLeft: Double { labelWidth }
    private var plotWidth: Double { width - labelWidth - rightMargin }

    private enum Colour {
        static let failure = "#b71c1c"
        static let retry = "#fb8c00"
        static let rejected = "#6a1b9a"
        static let wentDown = "#8b0000"
        static let cameUp = "#1b5e20"
        static let action = "#1f6feb"
        static let actionText = "#1f4fa8"
        static let grid = "#e3e6ea"
        static let frame = "#9aa3ad"
        static let muted = "#5f6b7a"
    }

    /// The `<svg>` element.
    func render() -> String {
        let axis = TimeAxis(range: report.range)
        let lanesTop = axisHeight + 10
        let lanesBottom = lanesTop + balancerLaneHeight + Double(report.lanes.count) * laneHeight
        let legendTop = lanesBottom + axisHeight + 6
        let height = legendTop + legendHeight
        let scale = max(1, densityTotals().values.max() ?? 1)
        let label = "Timeline of backend states from \(TimeText.rfc3339(report.range.start)) to \(TimeText.rfc3339(report.range.end))"

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\" aria-label=\"\(label)\" "
            + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        svg += "<defs><pattern id=\"absent\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" "
            + "patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#f4f5f7\"/>"
            + "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#d5d9df\" stroke-width=\"3\"/></pattern></defs>\n"
        svg += rect(0, 0, width, height, fill: "#ffffff") + "\n"
        svg += gridAndAxis(axis, top: lanesTop, bottom: lanesBottom)
        svg += balancerLane(top: lanesTop, scale: scale)
        for (index, lane) in report.lanes.enumerated() {
            svg += backendLane(lane, top: lanesTop + balancerLaneHeight + Double(index) * laneHeight, scale: scale)
        }
        svg += legend(top: legendTop)
        svg += "</svg>\n"
        return svg
    }

    // MARK: Pieces

    private func gridAndAxis(_ axis: TimeAxis, top: Double, bottom: Double) -> String {
        var svg = "<g class=\"axis\">\n"
        svg += text(10, axisHeight - 12, "time (UTC)", fill: Colour.muted) + "\n"
        for tick in axis.ticks {
            let x = self.x(tick.at)
            svg += line(x, top - 6, x, bottom + 6, stroke: Colour.grid) + "\n"
            svg += text(x, axisHeight - 12, tick.label, anchor: "middle") + "\n"
            svg += text(x, bottom + 22, tick.label, anchor: "middle") + "\n"
        }
        for x in [plotLeft, plotLeft + plotWidth] {
            svg += line(x, top - 6, x, bottom + 6, stroke: Colour.frame) + "\n"
        }
        return svg + "</g>\n"
    }

    /// The balancer's own row: its error answers and its restarts, which name no backend.
    private func balancerLane(top: Double, scale: Int) -> String {
        let counts = report.counts
        var svg = "<g class=\"lane balancer\">\n"
        svg += text(10, top + 18, "balancer", weight: "bold") + "\n"
        svg += text(10, top + 34, "\(counts.serviceUnavailable) × 503, \(counts.rejected) error answers in all",
                    fill: Colour.muted, size: 11) + "\n"
        svg += rect(plotLeft, top + 6, plotWidth, balancerLaneHeight - 14, fill: "#f7f8fa") + "\n"
        svg += density(backendID: nil, baseline: top + balancerLaneHeight - 10, height: balancerLaneHeight - 18,
                       scale: scale)
        for event in report.timeline where event.backendID == nil {
            let x = self.x(event.at)
            let colour = event.kind == .shutdown ? "#333333" : event.kind == .startup ? Colour.action : Colour.failure
            svg += "<g><title>\(tooltip(event))</title>"
            svg += line(x, top + 4, x, top + balancerLaneHeight - 8, stroke: colour, width: 2, dash: "4 2")
            svg += text(x + 3, top + 15, event.kind.rawValue, fill: colour, size: 10) + "</g>\n"
        }
        return svg + "</g>\n"
    }

    private func backendLane(_ lane: BackendLane, top: Double, scale: Int) -> String {
        let url = lane.backend.url
        let shortURL = url.count > 36 ? String(url.prefix(35)) + "…" : url
        let failures = report.failuresByBackend[lane.backend.id] ?? 0
        let barTop = top + barOffset
        var svg = "<g class=\"lane\">\n"
        svg += "<text x=\"10\" y=\"\(f(barTop + 15))\" font-weight=\"bold\"><title>\(url.htmlEscaped)</title>"
            + "\(shortURL.htmlEscaped)</text>\n"
        svg += text(10, barTop + 32, "down \(TimeText.duration(milliseconds: lane.downtimeMilliseconds)), "
                    + "\(failures) failures", fill: Colour.muted, size: 11) + "\n"
        for segment in lane.segments {
            let x0 = x(segment.range.start)
            let title = "\(url): \(segment.state.label) \(TimeText.seconds(segment.range.start)) to "
                + "\(TimeText.seconds(segment.range.end)) (\(TimeText.duration(milliseconds: segment.range.durationMilliseconds)))"
            svg += rect(x0, barTop, max(0.5, x(segment.range.end) - x0), barHeight, fill: segment.state.fill,
                        title: title) + "\n"
        }
        svg += rect(plotLeft, barTop, plotWidth, barHeight, fill: "none", stroke: Colour.frame) + "\n"
        svg += density(backendID: lane.backend.id, baseline: barTop + barHeight + 3 + densityHeight,
                       height: densityHeight, scale: scale)
        svg += markers(lane.changes, barTop: barTop)
        return svg + "</g>\n"
    }

    /// Status changes as triangles with a line through the bar; operator actions as diamonds with
    /// a short label above, dropped where it would run into the previous one (the title has it).
    private func markers(_ changes: [Event], barTop: Double) -> String {
        var svg = ""
        var lastLabelEnd = -Double.infinity
        for event in changes {
            let x = self.x(event.at)
            svg += "<g><title>\(tooltip(event))</title>"
            if event.kind == .statusChange {
                let to = ChangeDetail.healthTransition(event.detail).to
                let colour = to == .down ? Colour.wentDown : to == .up ? Colour.cameUp : "#333333"
                svg += line(x, barTop - 2, x, barTop + barHeight + 2, stroke: colour, width: 2)
                svg += path("M\(f(x - 5)) \(f(barTop - 11)) L\(f(x + 5)) \(f(barTop - 11)) L\(f(x)) \(f(barTop - 2)) Z",
                            fill: colour)
            } else {
                svg += path("M\(f(x)) \(f(barTop - 13)) L\(f(x + 5)) \(f(barTop - 8)) L\(f(x)) \(f(barTop - 3)) "
                            + "L\(f(x - 5)) \(f(barTop - 8)) Z", fill: Colour.action)
                let label = Self.shortLabel(ChangeDetail.adminChange(event.detail))
                let labelStart = x - 4
                if labelStart > lastLabelEnd + 4 {
                    svg += text(labelStart, barTop - 17, label, fill: Colour.actionText, size: 10)
                    lastLabelEnd = labelStart + Double(label.count) * 6.2
                }
            }
            svg += "</g>\n"
        }
        return svg
    }

    /// Bars under a lane: failures (dark red) with retries (orange) and error answers (purple)
    /// stacked on top, one bar per slice of the window, all lanes on one scale.
    private func density(backendID: Int64?, baseline: Double, height: Double, scale: Int) -> String {
        var bySlice: [Int: [EventKind: Int]] = [:]
        for bin in report.bins where bin.backendID == backendID {
            bySlice[bin.index, default: [:]][bin.kind, default: 0] += bin.count
        }
        let sliceWidth = plotWidth / Double(report.binCount)
        var svg = ""
        for (index, kinds) in bySlice.sorted(by: { $0.key < $1.key }) {
            var y = baseline
            let x = plotLeft + Double(index) * sliceWidth
            let start = report.range.start.adding(milliseconds: Int64(index) * sliceMilliseconds)
            let summary = kinds.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
            svg += "<g><title>\(TimeText.seconds(start)): \(summary.htmlEscaped)</title>"
            for (kind, colour) in [(EventKind.failure, Colour.failure), (.retry, Colour.retry), (.rejected, Colour.rejected)] {
                guard let count = kinds[kind], count > 0 else { continue }
                let barHeight = max(1.5, height * Double(count) / Double(scale))
                y -= barHeight
                svg += rect(x, y, max(1, sliceWidth - 0.6), barHeight, fill: colour)
            }
            svg += "</g>\n"
        }
        return svg
    }

    private func legend(top: Double) -> String {
        var svg = "<g class=\"legend\">\n"
        var x = 10.0
        for state in [LaneState.up, .down, .drained, .disabled, .unknown, .notRegistered] {
            svg += rect(x, top, 22, 14, fill: state.fill, stroke: Colour.frame)
            svg += text(x + 28, top + 11, state.label) + "\n"
            x += 50 + Double(state.label.count) * 7
        }
        var row = top + 30
        svg += path("M5 \(f(row - 5)) L15 \(f(row - 5)) L10 \(f(row + 4)) Z", fill: Colour.wentDown)
        svg += text(22, row + 4, "status change (to down)") + "\n"
        svg += path("M200 \(f(row - 5)) L210 \(f(row - 5)) L205 \(f(row + 4)) Z", fill: Colour.cameUp)
        svg += text(217, row + 4, "status change (to up)") + "\n"
        svg += path("M390 \(f(row - 6)) L395 \(f(row - 1)) L390 \(f(row + 4)) L385 \(f(row - 1)) Z", fill: Colour.action)
        svg += text(402, row + 4, "operator action (add, drain, enable, disable, remove, weight)") + "\n"
        svg += line(830, row - 7, 830, row + 6, stroke: Colour.action, width: 2, dash: "4 2")
        svg += text(838, row + 4, "balancer start / stop") + "\n"
        row += 26
        let slice = TimeText.duration(milliseconds: sliceMilliseconds)
        svg += text(10, row + 4, "bars under a lane, per \(slice) slice:", fill: Colour.muted) + "\n"
        x = 250
        for (label, colour) in [("failures", Colour.failure), ("retries", Colour.retry),
                                ("balancer error answers (503…)", Colour.rejected)] {
            svg += rect(x, row - 6, 8, 12, fill: colour)
            svg += text(x + 14, row + 4, label) + "\n"
            x += 40 + Double(label.count) * 7
        }
        return svg + "</g>\n"
    }

    // MARK: Helpers

    private var sliceMilliseconds: Int64 { report.range.durationMilliseconds / Int64(max(1, report.binCount)) }

    /// The stacked total of every slice of every lane, so every lane shares one scale.
    private func densityTotals() -> [String: Int] {
        var totals: [String: Int] = [:]
        for bin in report.bins { totals["\(bin.backendID ?? -1)/\(bin.index)", default: 0] += bin.count }
        return totals
    }

    private func x(_ instant: Timestamp) -> Double {
        let duration = Double(max(1, report.range.durationMilliseconds))
        let offset = Double(instant.milliseconds - report.range.start.milliseconds)
        return plotLeft + min(max(0, offset / duration), 1) * plotWidth
    }

    private func tooltip(_ event: Event) -> String {
        [TimeText.rfc3339(event.at), event.kind.rawValue, event.backendURL, event.detail].compactMap { $0 }
            .joined(separator: " ").htmlEscaped
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    private func rect(_ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: String,
                      stroke: String? = nil, title: String? = nil) -> String {
        let outline = stroke.map { " stroke=\"\($0)\" stroke-width=\"0.5\"" } ?? ""
        let head = "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"\(fill)\"\(outline)"
        guard let title else { return head + "/>" }
        return head + "><title>\(title.htmlEscaped)</title></rect>"
    }

    private func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                      dash: String? = nil) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(stroke)\" "
            + "stroke-width=\"\(f(width))\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>"
    }

    private func text(_ x: Double, _ y: Double, _ content: String, anchor: String = "start", fill: String = "#1d2329",
                      size: Int = 12, weight: String = "normal") -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\" fill=\"\(fill)\" font-size=\"\(size)\" "
            + "font-weight=\"\(weight)\">\(content.htmlEscaped)</text>"
    }

    private func path(_ data: String, fill: String) -> String {
        "<path d=\"\(data)\" fill=\"\(fill)\" stroke=\"#ffffff\" stroke-width=\"0.6\"/>"
    }

    static func shortLabel(_ change: ChangeDetail.AdminChange) -> String {
        switch change {
        case .added: return "added"
        case .removed: return "removed"
        case .state(_, let to): return to.rawValue
        case .weight: return "weight"
        case .other: return "admin"
        }
    }
}
