import LBText
import Foundation
import LBStore

/// Draws an audit window as an SVG picture: one lane per backend coloured by state, the density of
/// failures and retries under each lane, status changes and operator actions marked, a time axis
/// and a legend. Plain SVG: no script, no font or image fetched; hover titles give the details.
struct AuditTimelineSVG {
    var report: AuditReport
    /// How labels and titles write times.
    var times: TimeDisplay

    private let width = 1240.0
    private let labelWidth = 290.0
    private let rightMargin = 30.0
    private let axisHeight = 34.0
    private let balancerLaneHeight = 50.0
    private let laneHeight = 92.0
    /// From a lane's top to its bar: room for two rows of action labels, then markers.
    private let barOffset = 42.0
    private let barHeight = 22.0
    private let densityHeight = 16.0
    /// Baselines of the rows of action labels above a bar, from the bar's top.
    private let actionLabelRows = [-17.0, -29.0]
    /// Baselines of the rows of labels in the balancer's lane, from its top.
    private let balancerLabelRows = [15.0, 27.0]

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
        static let outage = "#c62828"
        static let stopped = "#5e4a9c"
    }

    /// The `<svg>` element.
    func render() -> String {
        let axis = TimeAxis(range: report.range, times: times)
        let lanesTop = axisHeight + 10
        let lanesBottom = lanesTop + balancerLaneHeight + Double(report.lanes.count) * laneHeight
        let legendTop = lanesBottom + axisHeight + 6
        let (legendSVG, legendHeight) = legend(top: legendTop)
        let height = legendTop + legendHeight
        let scale = max(1, densityTotals().values.max() ?? 1)
        let label = "Timeline of backend states from \(times.seconds(report.range.start)) to \(times.seconds(report.range.end))"

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\" aria-label=\"\(label)\" "
            + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        svg += "<defs><pattern id=\"absent\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" "
            + "patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#f4f5f7\"/>"
            + "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#d5d9df\" stroke-width=\"3\"/></pattern>"
            + "<pattern id=\"stopped\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
            + "patternTransform=\"rotate(-45)\"><rect width=\"6\" height=\"6\" fill=\"#e6e0f3\"/>"
            + "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#8e7cc3\" stroke-width=\"2\"/></pattern>"
            + "<pattern id=\"norecord\" width=\"10\" height=\"10\" patternUnits=\"userSpaceOnUse\">"
            + "<rect width=\"10\" height=\"10\" fill=\"#ffffff\"/><circle cx=\"5\" cy=\"5\" r=\"1.2\" fill=\"#9aa3ad\"/>"
            + "</pattern></defs>\n"
        svg += rect(0, 0, width, height, fill: "#ffffff") + "\n"
        svg += gridAndAxis(axis, top: lanesTop, bottom: lanesBottom)
        svg += balancerLane(top: lanesTop, scale: scale)
        for (index, lane) in report.lanes.enumerated() {
            svg += backendLane(lane, top: lanesTop + balancerLaneHeight + Double(index) * laneHeight, scale: scale)
        }
        svg += legendSVG
        svg += "</svg>\n"
        return svg
    }

    // MARK: Pieces

    /// The axis's zone: `UTC`, or the offsets at the window's start and end (`UTC+01:00`,
    /// `UTC+02:00 to +01:00` across a daylight-saving change).
    private var zoneLabel: String {
        guard !times.isUTC else { return "UTC" }
        let start = Self.offsetText(times.offsetSeconds(at: report.range.start))
        let end = Self.offsetText(times.offsetSeconds(at: report.range.end))
        return "UTC" + start + (end == start ? "" : " to " + end)
    }

    private static func offsetText(_ seconds: Int) -> String {
        let minutes = abs(seconds) / 60
        let hours = minutes / 60
        return (seconds < 0 ? "-" : "+") + (hours < 10 ? "0" : "") + "\(hours):" + (minutes % 60 < 10 ? "0" : "") + "\(minutes % 60)"
    }

    private func gridAndAxis(_ axis: TimeAxis, top: Double, bottom: Double) -> String {
        var svg = "<g class=\"axis\">\n"
        svg += text(10, axisHeight - 12, "time (\(zoneLabel))", fill: Colour.muted) + "\n"
        // Centred on its tick, or moved left at the right edge so the border does not cut it; one
        // that would then run into its neighbour is left out.
        var labels = LabelRows(rows: 1, within: plotLeft / 2...(width - 2))
        for tick in axis.ticks {
            let x = self.x(tick.at)
            svg += line(x, top - 6, x, bottom + 6, stroke: Colour.grid) + "\n"
            let labelWidth = LabelRows.width(of: tick.label, size: 12)
            guard let place = labels.place(at: x - labelWidth / 2, width: labelWidth) else { continue }
            svg += text(place.x, axisHeight - 12, tick.label) + "\n"
            svg += text(place.x, bottom + 22, tick.label) + "\n"
        }
        for x in [plotLeft, plotLeft + plotWidth] {
            svg += line(x, top - 6, x, bottom + 6, stroke: Colour.frame) + "\n"
        }
        return svg + "</g>\n"
    }

    /// The balancer's own row: its error answers, its restarts, the spans without a balancer and
    /// the outages, which name no backend.
    private func balancerLane(top: Double, scale: Int) -> String {
        let counts = report.counts
        var svg = "<g class=\"lane balancer\">\n"
        svg += text(10, top + 18, "balancer", weight: "bold") + "\n"
        svg += text(10, top + 34, "\(counts.serviceUnavailable) × 503, \(counts.rejected) error answers in all",
                    fill: Colour.muted, size: 11) + "\n"
        svg += rect(plotLeft, top + 6, plotWidth, balancerLaneHeight - 14, fill: "#f7f8fa") + "\n"
        for span in report.coverage.noBalancer {
            svg += rect(x(span.start), top + 6, max(0.5, x(span.end) - x(span.start)), balancerLaneHeight - 14,
                        fill: LaneState.noBalancer.fill,
                        title: "no balancer running \(times.seconds(span.start)) to \(times.seconds(span.end)) "
                            + "(\(TimeText.duration(milliseconds: span.durationMilliseconds)))") + "\n"
        }
        for outage in report.outages {
            svg += rect(x(outage.start), top + 2, max(1, x(outage.end) - x(outage.start)), 5, fill: Colour.outage,
                        title: "outage: no backend could take traffic \(times.seconds(outage.start)) to "
                            + "\(times.seconds(outage.end)) (\(TimeText.duration(milliseconds: outage.durationMilliseconds)))")
                + "\n"
        }
        svg += density(backendID: nil, baseline: top + balancerLaneHeight - 10, height: balancerLaneHeight - 18,
                       scale: scale)
        var labels = LabelRows(rows: balancerLabelRows.count, within: (plotLeft + 1)...(plotLeft + plotWidth))
        func label(_ content: String, at instant: Timestamp, fill: String) -> String {
            let size = 10
            let width = LabelRows.width(of: content, size: Double(size))
            guard let place = labels.place(at: x(instant) + 3, width: width) else { return "" }
            return text(place.x, top + balancerLabelRows[place.row], content, fill: fill, size: size)
        }
        // Placed in order of importance: the outages, the restarts, then the spans the hatching shows anyway.
        for outage in report.outages { svg += label("outage", at: outage.start, fill: Colour.outage) + "\n" }
        for event in report.timeline where event.backendID == nil {
            let x = self.x(event.at)
            let colour = event.kind == .shutdown ? "#333333" : event.kind == .startup ? Colour.action : Colour.failure
            svg += "<g><title>\(tooltip(event))</title>"
            svg += line(x, top + 4, x, top + balancerLaneHeight - 8, stroke: colour, width: 2, dash: "4 2")
            svg += label(event.kind.rawValue, at: event.at, fill: colour) + "</g>\n"
        }
        for span in report.coverage.noBalancer { svg += label("no balancer", at: span.start, fill: Colour.stopped) + "\n" }
        return svg + "</g>\n"
    }

    private func backendLane(_ lane: BackendLane, top: Double, scale: Int) -> String {
        let url = lane.backend.url
        var shortURL = url
        // Cut to the label column, so the name never runs into the lane.
        while shortURL.count > 8 && 10 + LabelRows.width(of: shortURL, size: 12, bold: true) > labelWidth - 10 {
            shortURL = String(shortURL.dropLast(2)) + "…"
        }
        let failures = report.failuresByBackend[lane.backend.id] ?? 0
        let barTop = top + barOffset
        var svg = "<g class=\"lane\">\n"
        svg += text(10, barTop + 15, shortURL, weight: "bold", title: url) + "\n"
        svg += text(10, barTop + 32, "down \(TimeText.duration(milliseconds: lane.downtimeMilliseconds)), "
                    + "\(failures) failures", fill: Colour.muted, size: 11) + "\n"
        for segment in lane.segments {
            let x0 = x(segment.range.start)
            let title = "\(url): \(segment.state.label) \(times.seconds(segment.range.start)) to "
                + "\(times.seconds(segment.range.end)) (\(TimeText.duration(milliseconds: segment.range.durationMilliseconds)))"
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
    /// a short label above, on the first of two rows where it overlaps no other, else left out
    /// (the title has it).
    private func markers(_ changes: [Event], barTop: Double) -> String {
        var svg = ""
        var labels = LabelRows(rows: actionLabelRows.count, within: plotLeft...(plotLeft + plotWidth))
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
                if let place = labels.place(at: x - 4, width: LabelRows.width(of: label, size: 10)) {
                    svg += text(place.x, barTop + actionLabelRows[place.row], label, fill: Colour.actionText, size: 10)
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
            svg += "<g><title>\(times.seconds(start)): \(summary.htmlEscaped)</title>"
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

    /// The key, laid out left to right and wrapped, so no entry runs into the next; and its height.
    private func legend(top: Double) -> (String, Double) {
        var svg = "<g class=\"legend\">\n"
        let rowHeight = 24.0
        var row = top + 11
        var x = 10.0
        // One entry: a swatch `swatchWidth` wide drawn by `swatch(x, baseline)`, then its words.
        func entry(_ words: String, swatchWidth: Double = 22, swatch: (Double, Double) -> String) {
            let entryWidth = swatchWidth + 6 + LabelRows.width(of: words, size: 12)
            if x > 10 && x + entryWidth > width - 10 {
                x = 10
                row += rowHeight
            }
            svg += swatch(x, row) + text(x + swatchWidth + 6, row, words) + "\n"
            x += entryWidth + 20
        }
        func newRow() {
            x = 10
            row += rowHeight
        }
        for state in LaneState.allCases {
            entry(state.label) { x, baseline in rect(x, baseline - 11, 22, 14, fill: state.fill, stroke: Colour.frame) }
        }
        entry("outage: no backend could take traffic") { x, baseline in rect(x, baseline - 8, 22, 5, fill: Colour.outage) }
        newRow()
        for (words, colour) in [("status change (to down)", Colour.wentDown), ("status change (to up)", Colour.cameUp)] {
            entry(words, swatchWidth: 10) { x, baseline in
                path("M\(f(x)) \(f(baseline - 9)) L\(f(x + 10)) \(f(baseline - 9)) L\(f(x + 5)) \(f(baseline)) Z",
                     fill: colour)
            }
        }
        entry("operator action (add, drain, enable, disable, remove, weight)", swatchWidth: 10) { x, baseline in
            path("M\(f(x + 5)) \(f(baseline - 10)) L\(f(x + 10)) \(f(baseline - 5)) L\(f(x + 5)) \(f(baseline)) "
                 + "L\(f(x)) \(f(baseline - 5)) Z", fill: Colour.action)
        }
        entry("balancer start / stop", swatchWidth: 4) { x, baseline in
            line(x + 2, baseline - 11, x + 2, baseline + 2, stroke: Colour.action, width: 2, dash: "4 2")
        }
        newRow()
        let intro = "bars under a lane, per \(TimeText.duration(milliseconds: sliceMilliseconds)) slice:"
        svg += text(x, row, intro, fill: Colour.muted) + "\n"
        x += LabelRows.width(of: intro, size: 12) + 20
        for (words, colour) in [("failures", Colour.failure), ("retries", Colour.retry),
                                ("balancer error answers (503…)", Colour.rejected)] {
            entry(words, swatchWidth: 8) { x, baseline in rect(x, baseline - 10, 8, 12, fill: colour) }
        }
        return (svg + "</g>\n", row - top + 16)
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
        [times.milliseconds(event.at), event.kind.rawValue, event.backendURL, event.detail].compactMap { $0 }
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
                      size: Int = 12, weight: String = "normal", title: String? = nil) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\" fill=\"\(fill)\" font-size=\"\(size)\" "
            + "font-weight=\"\(weight)\">" + (title.map { "<title>\($0.htmlEscaped)</title>" } ?? "")
            + "\(content.htmlEscaped)</text>"
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
