import LBStore

/// The audit report as text for a terminal: summary, backends, timeline, affected requests.
struct AuditText {
    var colour: Bool
    /// How the report writes times.
    var times: TimeDisplay
    /// The width the report fits (a terminal's), nil for none.
    var width: Int? = nil
    /// Timeline rows printed at most; the rest are counted.
    var timelineLimit = 200

    func render(_ report: AuditReport) -> String {
        LineWrap.wrap(renderLines(report), width: width)
    }

    private func table(_ columns: [TableFormatter.Column]) -> TableFormatter {
        TableFormatter(columns: columns, colour: colour, width: width)
    }

    private func renderLines(_ report: AuditReport) -> String {
        var output = ""
        let title = "Post-incident report: \(times.seconds(report.range.start)) to \(times.seconds(report.range.end))"
            + " (\(TimeText.duration(milliseconds: report.range.durationMilliseconds))\(times.isUTC ? ", times in UTC" : ""))"
        output += TextStyle.bold.apply(to: title, enabled: colour) + "\n"
        output += "database \(report.databasePath), generated \(times.milliseconds(report.generatedAt))\n"
        for note in report.coverageNotes(times: times) {
            output += TextStyle.yellow.apply(to: "note: \(note)", enabled: colour) + "\n"
        }
        output += "\n"

        output += heading("Summary")
        let counts = report.counts
        var summary: [[TableFormatter.Cell]] = [
            ["failures", .init(String(counts.failures), style: counts.failures > 0 ? .red : nil)],
            ["retries", .init(String(counts.retries))],
            ["503 answers", .init("\(counts.serviceUnavailable)", style: counts.serviceUnavailable > 0 ? .red : nil)],
            ["all balancer error answers (502/503/504)", .init(String(counts.rejected))],
            ["requests affected", .init(String(report.requests.count))],
            ["outages (no backend could take traffic)", .init(Self.total(report.outages),
                                                              style: report.outages.isEmpty ? nil : .red)],
            ["no balancer running", .init(Self.total(report.coverage.noBalancer))],
            ["first failure", .init(describe(report.firstFailure))],
            ["last failure", .init(describe(report.lastFailure))],
        ]
        if !report.requests.sample.isEmpty {
            summary.append(["request ids (sample)", .init(report.requests.sample.joined(separator: " "))])
        }
        output += table([.init(""), .init("", shrink: .text(minimum: 20))]).renderWithoutHeader(summary)
        output += "\n"

        output += heading("Backends")
        if report.lanes.isEmpty {
            output += "no backend was registered in this window\n"
        } else {
            let rows = report.lanes.map { lane -> [TableFormatter.Cell] in
                [
                    .init(lane.backend.url),
                    .init(lane.stateAtStart.label, style: Self.style(of: lane.stateAtStart)),
                    .init(lane.stateAtEnd.label, style: Self.style(of: lane.stateAtEnd)),
                    .init(TimeText.duration(milliseconds: lane.downtimeMilliseconds),
                          style: lane.downtimeMilliseconds > 0 ? .red : nil),
                    .init(TimeText.duration(milliseconds: lane.drainedMilliseconds)),
                    .init(String(report.failuresByBackend[lane.backend.id] ?? 0)),
                    .init(String(report.retriesByBackend[lane.backend.id] ?? 0)),
                    .init(String(lane.changes.filter { $0.kind == .statusChange }.count)),
                ]
            }
            output += table([
                .init("URL", shrink: .url(minimum: 18)), .init("AT START"), .init("AT END"), .init("DOWNTIME", .right),
                .init("DRAINED", .right, hidePriority: 3), .init("FAILURES", .right, hidePriority: 2),
                .init("RETRIES", .right, hidePriority: 1), .init("STATUS CHANGES", .right, hidePriority: 0),
            ]).render(rows)
        }
        output += "\n"

        if !report.outages.isEmpty {
            output += heading("Outages: no backend could take traffic")
            output += table([.init("FROM"), .init("TO"), .init("DURATION", .right), .init("BACKENDS", shrink: .text(minimum: 12))])
                .render(report.outages.map { outage in
                    [.init(times.seconds(outage.start)), .init(times.seconds(outage.end)),
                     .init(TimeText.duration(milliseconds: outage.durationMilliseconds), style: .red),
                     .init(report.registeredStates(at: outage.start).map { "\($0.url) \($0.state.label)" }
                        .joined(separator: ", "))]
                })
            output += "\n"
        }
        if !report.coverage.noBalancer.isEmpty {
            output += heading("No balancer running (neither up nor down, not counted as downtime)")
            output += table([.init("FROM"), .init("TO"), .init("DURATION", .right)])
                .render(report.coverage.noBalancer.map { span in
                    [.init(times.seconds(span.start)), .init(times.seconds(span.end)),
                     .init(TimeText.duration(milliseconds: span.durationMilliseconds))]
                })
            output += "\n"
        }

        output += heading("Timeline: status changes, operator actions, restarts")
        if report.timeline.isEmpty {
            output += "nothing changed in this window\n"
        } else {
            let formatter = EventFormatter(colour: colour, times: times, width: width)
            let shown = report.timeline.prefix(timelineLimit)
            // A fleet's timeline says which daemon saw each change.
            let fleet = Set(report.timeline.compactMap(\.instance)).count > 1
            let columns = EventFormatter.columns
            output += table([columns[0], columns[1], columns[2]]
                            + (fleet ? [.init("INSTANCE", shrink: .text(minimum: 8))] : []) + [columns[5]])
                .render(shown.map { event in
                    let cells = formatter.cells(event)
                    return [cells[0], cells[1], cells[2]] + (fleet ? [.init(event.instance ?? "-")] : []) + [cells[5]]
                })
            if report.timeline.count > shown.count {
                output += "... and \(report.timeline.count - shown.count) more (see lbctl events --kind status_change,admin_change)\n"
            }
        }
        return output
    }

    private func heading(_ text: String) -> String { TextStyle.bold.apply(to: text, enabled: colour) + "\n" }

    private func describe(_ event: Event?) -> String {
        guard let event else { return "-" }
        return [times.milliseconds(event.at), event.backendURL, event.requestID.map { "request \($0)" }, event.detail]
            .compactMap { $0 }.joined(separator: "  ")
    }

    static func style(of state: LaneState) -> TextStyle? {
        switch state {
        case .up: return .green
        case .down: return .red
        case .drained: return .yellow
        case .disabled, .notRegistered, .noBalancer, .noRecord: return .dim
        case .unknown: return nil
        }
    }

    /// "none", or "1 span, 17m 00s" / "2 spans, 3m 10s in all".
    static func total(_ spans: [TimeRange]) -> String {
        guard !spans.isEmpty else { return "none" }
        let duration = TimeText.duration(milliseconds: spans.reduce(0) { $0 + $1.durationMilliseconds })
        return spans.count == 1 ? "1 span, \(duration)" : "\(spans.count) spans, \(duration) in all"
    }
}
