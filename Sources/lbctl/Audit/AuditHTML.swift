import LBText
import LBStore

/// The audit report as one self-contained HTML page: inline CSS and SVG, no script, nothing
/// fetched, so it can be mailed, attached to a ticket or opened from a USB stick.
struct AuditHTML {
    var report: AuditReport
    /// How the page writes times.
    var times: TimeDisplay
    /// Timeline rows listed at most; the rest are counted.
    var timelineLimit = 1_000

    func render() -> String {
        let range = report.range
        let counts = report.counts
        let title = "Incident report \(times.seconds(range.start)) to \(times.seconds(range.end))"
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title.htmlEscaped)</title>
            <style>
            body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #1d2329; background: #fff; }
            h1 { font-size: 22px; margin: 0 0 4px; }
            h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; }
            .meta { color: #5f6b7a; font-size: 13px; }
            .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 8px; }
            .card { border: 1px solid #e3e6ea; border-radius: 6px; padding: 10px 16px; min-width: 130px; }
            .card .value { font-size: 24px; font-weight: bold; }
            .card .label { color: #5f6b7a; font-size: 12px; }
            .card.bad .value { color: #c62828; }
            table { border-collapse: collapse; font-size: 13px; }
            th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #f0f1f3; vertical-align: top; }
            th { color: #5f6b7a; font-weight: normal; }
            td.number { text-align: right; font-variant-numeric: tabular-nums; }
            code, .mono { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
            .state { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-size: 12px; }
            .state.up { background: \(LaneState.up.fill); } .state.down { background: \(LaneState.down.fill); }
            .state.drained { background: \(LaneState.drained.fill); color: #1d2329; }
            .state.disabled { background: \(LaneState.disabled.fill); }
            .state.unknown, .state.not_registered, .state.no_record { background: \(LaneState.unknown.fill); color: #1d2329; }
            .state.no_balancer { background: #8e7cc3; }
            .note { background: #fff8e1; border-left: 4px solid #f2a900; padding: 6px 10px; font-size: 13px; margin: 8px 0; }
            .kind-status_change { color: #8b0000; font-weight: bold; } .kind-admin_change { color: #1f4fa8; font-weight: bold; }
            .timeline-picture { overflow-x: auto; border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 0; }
            </style>
            </head>
            <body>
            <h1>\(title.htmlEscaped)</h1>
            <p class="meta">Window \(times.milliseconds(range.start)) to \(times.milliseconds(range.end)) (\(TimeText.duration(milliseconds: range.durationMilliseconds))\(times.isUTC ? ", times in UTC" : ", local times with their UTC offset")).
            Database <code>\(report.databasePath.htmlEscaped)</code>, generated \(times.milliseconds(report.generatedAt)) by lbctl audit.</p>

            """
        for note in report.coverageNotes(times: times) { html += "<p class=\"note\">Note: \(note.htmlEscaped).</p>\n" }
        html += "<div class=\"cards\">\n"
        let downBackends = report.lanes.filter { $0.downtimeMilliseconds > 0 }.count
        let totalDowntime = report.lanes.reduce(Int64(0)) { $0 + $1.downtimeMilliseconds }
        html += card("failures", String(counts.failures), bad: counts.failures > 0)
        html += card("retries", String(counts.retries), bad: false)
        html += card("503 answers", String(counts.serviceUnavailable), bad: counts.serviceUnavailable > 0)
        html += card("requests affected", String(report.requests.count), bad: report.requests.count > 0)
        html += card("backends that went down", "\(downBackends) of \(report.lanes.count)", bad: downBackends > 0)
        html += card("downtime, all backends", TimeText.duration(milliseconds: totalDowntime), bad: totalDowntime > 0)
        html += card("outages: no backend could take traffic", AuditText.total(report.outages), bad: !report.outages.isEmpty)
        html += card("no balancer running", AuditText.total(report.coverage.noBalancer), bad: false)
        html += "</div>\n<h2>Timeline</h2>\n<div class=\"timeline-picture\">\n"
        html += AuditTimelineSVG(report: report, times: times).render()
        html += "</div>\n"
        html += spansSection()
        html += backendsSection()
        html += failuresSection()
        html += timelineSection()
        html += "</body>\n</html>\n"
        return html
    }

    private func card(_ label: String, _ value: String, bad: Bool) -> String {
        "<div class=\"card\(bad ? " bad" : "")\"><div class=\"value\">\(value.htmlEscaped)</div>"
            + "<div class=\"label\">\(label.htmlEscaped)</div></div>\n"
    }

    private func state(_ state: LaneState) -> String {
        "<span class=\"state \(state.rawValue)\">\(state.label)</span>"
    }

    /// The outages, with what each backend was when it began, and the spans without a balancer.
    private func spansSection() -> String {
        var html = ""
        if !report.outages.isEmpty {
            html += "<h2>Outages: no backend could take traffic</h2>\n<table>\n"
                + "<tr><th>from</th><th>to</th><th>duration</th><th>backends</th></tr>\n"
            for outage in report.outages {
                html += "<tr><td class=\"mono\">\(times.milliseconds(outage.start))</td>"
                    + "<td class=\"mono\">\(times.milliseconds(outage.end))</td>"
                    + "<td class=\"number\">\(TimeText.duration(milliseconds: outage.durationMilliseconds))</td><td>"
                    + report.registeredStates(at: outage.start)
                        .map { "<code>\($0.url.htmlEscaped)</code> \(state($0.state))" }.joined(separator: " ")
                    + "</td></tr>\n"
            }
            html += "</table>\n"
        }
        if !report.coverage.noBalancer.isEmpty {
            html += "<h2>No balancer running</h2>\n<p>No lbserver ran: backends were neither up nor down, "
                + "and this time is not counted as downtime.</p>\n<table>\n"
                + "<tr><th>from</th><th>to</th><th>duration</th></tr>\n"
            for span in report.coverage.noBalancer {
                html += "<tr><td class=\"mono\">\(times.milliseconds(span.start))</td>"
                    + "<td class=\"mono\">\(times.milliseconds(span.end))</td>"
                    + "<td class=\"number\">\(TimeText.duration(milliseconds: span.durationMilliseconds))</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html
    }

    private func backendsSection() -> String {
        var html = "<h2>Backends</h2>\n"
        guard !report.lanes.isEmpty else { return html + "<p>No backend was registered in this window.</p>\n" }
        html += "<table>\n<tr><th>URL</th><th>at start</th><th>at end</th><th>downtime</th><th>drained</th>"
            + "<th>failures</th><th>retries</th><th>status changes</th></tr>\n"
        for lane in report.lanes {
            let id = lane.backend.id
            html += "<tr><td><code>\(lane.backend.url.htmlEscaped)</code></td><td>\(state(lane.stateAtStart))</td>"
                + "<td>\(state(lane.stateAtEnd))</td>"
                + "<td class=\"number\">\(TimeText.duration(milliseconds: lane.downtimeMilliseconds))</td>"
                + "<td class=\"number\">\(TimeText.duration(milliseconds: lane.drainedMilliseconds))</td>"
                + "<td class=\"number\">\(report.failuresByBackend[id] ?? 0)</td>"
                + "<td class=\"number\">\(report.retriesByBackend[id] ?? 0)</td>"
                + "<td class=\"number\">\(lane.changes.filter { $0.kind == .statusChange }.count)</td></tr>\n"
        }
        return html + "</table>\n"
    }

    private func failuresSection() -> String {
        var html = "<h2>Failures and affected requests</h2>\n<table>\n"
        html += "<tr><th>first failure</th><td>\(describe(report.firstFailure))</td></tr>\n"
        html += "<tr><th>last failure</th><td>\(describe(report.lastFailure))</td></tr>\n"
        html += "<tr><th>balancer error answers</th><td>\(report.counts.rejected) in all, "
            + "\(report.counts.serviceUnavailable) of them 503</td></tr>\n"
        html += "<tr><th>request ids affected</th><td>\(report.requests.count) distinct"
        if !report.requests.sample.isEmpty {
            html += "; first \(report.requests.sample.count): <span class=\"mono\">"
                + report.requests.sample.map(\.htmlEscaped).joined(separator: " ") + "</span>"
        }
        return html + "</td></tr>\n</table>\n"
    }

    private func timelineSection() -> String {
        var html = "<h2>Status changes and operator actions</h2>\n"
        guard !report.timeline.isEmpty else { return html + "<p>Nothing changed in this window.</p>\n" }
        html += "<table>\n<tr><th>at\(times.isUTC ? " (UTC)" : "")</th><th>kind</th><th>backend</th><th>detail</th></tr>\n"
        for event in report.timeline.prefix(timelineLimit) {
            html += "<tr><td class=\"mono\">\(times.milliseconds(event.at))</td>"
                + "<td class=\"kind-\(event.kind.rawValue)\">\(event.kind.rawValue)</td>"
                + "<td><code>\((event.backendURL ?? "balancer").htmlEscaped)</code></td>"
                + "<td>\((event.detail ?? "").htmlEscaped)</td></tr>\n"
        }
        html += "</table>\n"
        if report.timeline.count > timelineLimit {
            html += "<p>… and \(report.timeline.count - timelineLimit) more.</p>\n"
        }
        return html
    }

    private func describe(_ event: Event?) -> String {
        guard let event else { return "none" }
        return "<span class=\"mono\">\(times.milliseconds(event.at))</span> "
            + "<code>\((event.backendURL ?? "balancer").htmlEscaped)</code> "
            + (event.requestID.map { "request <span class=\"mono\">\($0.htmlEscaped)</span> " } ?? "")
            + (event.detail ?? "").htmlEscaped
    }
}
