import LBStore

/// Prints a `WhyReport` as text or as JSON. The JSON shape is a contract (see the README).
struct WhyFormatter {
    var colour: Bool
    /// For "so far" of a period that lasts.
    var now: Timestamp
    /// How the text writes times.
    var times: TimeDisplay
    /// The width the text fits (a terminal's), nil for none.
    var width: Int? = nil

    static let evidenceColumns: [TableFormatter.Column] = [
        .init("AT", shrink: .compact), .init("SOURCE"), .init("REQUEST", shrink: .text(minimum: 12), hidePriority: 2),
        .init("ATTEMPT", .right, hidePriority: 1), .init("LATENCY", .right), .init("ERROR", shrink: .text(minimum: 16)),
    ]

    // MARK: Text

    func text(_ report: WhyReport) -> String {
        LineWrap.wrap(periodText(report) + fleetText(report) + heldBackText(report.heldBack), width: width)
    }

    /// In a fleet: what each running daemon saw at the instant, and whether they disagreed.
    private func fleetText(_ report: WhyReport) -> String {
        guard report.views.count > 1 else { return "" }
        let down = report.views.filter { $0.health == .down }.count
        var output = "\nInstances at \(times.milliseconds(report.instant)): "
        output += down == 0 || down == report.views.count
            ? "all \(report.views.count) saw it \(report.views[0].health.rawValue).\n"
            : "they disagreed: \(down) of \(report.views.count) saw it down.\n"
        for view in report.views {
            let since = view.change.map { " since \(times.milliseconds($0.event.at))" + ($0.cause.map { " (\($0.rawValue))" } ?? "") } ?? ""
            output += "  \(view.instance): \(view.health.rawValue)\(since)\n"
        }
        return output
    }

    private func periodText(_ report: WhyReport) -> String {
        let at = times.milliseconds(report.instant)
        guard let period = report.period, let cause = report.cause else {
            if !report.wasEverOut { return "\(report.url) was never down, drained or disabled.\n" }
            return "\(report.url) was \(report.stateAtInstant.label) at \(at): not down, drained or disabled then.\n"
        }
        let state = Self.style(of: period.state).apply(to: period.state.rawValue, enabled: colour)
        let since = times.milliseconds(period.start.event.at)
        var output: String
        if let end = period.end {
            let span = TimeText.duration(milliseconds: end.event.at.milliseconds - period.start.event.at.milliseconds)
            output = "\(report.url) was \(state) from \(since) to \(times.milliseconds(end.event.at)) (\(span))"
        } else {
            let span = TimeText.duration(milliseconds: now.milliseconds - period.start.event.at.milliseconds)
            output = "\(report.url) has been \(state) since \(since) (\(span) so far)"
        }
        output += report.instantWasAsked ? "; in effect at \(at).\n" : ".\n"
        output += "\n" + explanation(cause, heading: "Cause", fleet: report.views.count > 1)
        if let ending = report.ending {
            // A restart that restores the same state ends this period's cause, not the state.
            let heading = ending.stateAfter == period.state.rawValue ? "Carried over by" : "Ended by"
            output += "\n" + explanation(ending, heading: heading, fleet: report.views.count > 1)
        } else if let until = cause.change.event.data?.ejectedUntil, until > now.milliseconds {
            // An outlier ejection has its end set: nothing but the end, or a failing check, changes it.
            output += "\nEnded by: nothing yet; the ejection ends at \(times.milliseconds(Timestamp(milliseconds: until))).\n"
        } else {
            output += "\nEnded by: nothing yet; it lasts.\n"
        }
        return output
    }

    /// The times traffic failed here but did not take the backend down, newest first.
    private func heldBackText(_ events: [Event]) -> String {
        guard !events.isEmpty else { return "" }
        var output = "\nNot marked down by traffic (latest \(events.count)):\n"
        for event in events {
            let kind = (EventFormatter.style(of: event.kind) ?? .dim).apply(to: event.kind.rawValue, enabled: colour)
            output += "  \(times.milliseconds(event.at)) \(kind) request \(event.requestID ?? "-"): \(event.detail ?? "")\n"
        }
        return output
    }

    /// A heading line, the record's detail and the evidence table of one change.
    private func explanation(_ explanation: ChangeExplanation, heading: String, fleet: Bool) -> String {
        let change = explanation.change
        var facts = [explanation.cause?.rawValue ?? "cause not recorded"]
        if let to = explanation.stateAfter, heading != "Cause" { facts.append("to \(to)") }
        facts.append("at \(times.milliseconds(change.event.at))")
        if let threshold = change.threshold { facts.append("threshold \(threshold)") }
        if let actor = change.actor { facts.append("by \(actor)") }
        if let command = change.command { facts.append("with `\(command)`") }
        if fleet, let instance = change.event.instance, change.event.kind == .statusChange {
            facts.append("seen by \(instance)")
        }
        if let age = change.stateAgeMilliseconds {
            facts.append("restoring the recorded state, \(TimeText.duration(milliseconds: age)) old")
        }
        if let until = change.event.data?.ejectedUntil {
            let ordinal = change.event.data?.ejections.map { ", ejection \($0) in a row" } ?? ""
            facts.append("ejected until \(times.milliseconds(Timestamp(milliseconds: until)))\(ordinal)")
        }
        var output = "\(heading): \(facts.joined(separator: ", "))\n"
        if let detail = change.event.detail { output += "  \(change.event.kind.rawValue): \(detail)\n" }
        // An operator's change is its own evidence: the heading says who and how.
        guard explanation.evidence.contains(where: { $0.source != .admin }) else { return output }
        let rows = explanation.evidence.map { item -> [TableFormatter.Cell] in
            [
                .init(times.milliseconds(Timestamp(milliseconds: item.at)), style: .dim,
                      compact: times.seconds(Timestamp(milliseconds: item.at))),
                .init(item.source.rawValue),
                .init(item.requestID ?? "-"),
                .init(item.attempt.map(String.init) ?? "-"),
                .init(item.latencyMs.map { "\(Self.milliseconds($0)) ms" } ?? "-"),
                .init(item.error ?? "", style: item.error == nil ? nil : .red),
            ]
        }
        // Indented by two: it fits two columns less.
        let table = TableFormatter(columns: Self.evidenceColumns, colour: colour, width: width.map { $0 - 2 }).render(rows)
        // Indented under the heading; a row whose last cells are empty ends without spaces.
        return output + table.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .map { "  " + $0.reversed().drop(while: { $0 == " " }).reversed() + "\n" }.joined()
    }

    /// The colours `lbctl backends` gives the same states.
    static func style(of state: OutagePeriod.State) -> TextStyle {
        switch state {
        case .down: return .red
        case .drained: return .yellow
        case .disabled: return .dim
        }
    }

    private static func milliseconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String((value * 1000).rounded() / 1000)
    }

    // MARK: JSON

    static func json(_ report: WhyReport) -> JSONValue {
        let period = report.period
        let since = period?.start.event.at
        let until = period?.end?.event.at
        let cause = report.cause
        return .object([
            ("url", .string(report.url)),
            ("at", .string(TimeText.rfc3339(report.instant))),
            ("state", .string(period?.state.rawValue ?? report.stateAtInstant.rawValue)),
            ("since", .optional(since.map(TimeText.rfc3339))),
            ("until", .optional(until.map(TimeText.rfc3339))),
            ("duration_ms", integer(until.flatMap { end in since.map { end.milliseconds - $0.milliseconds } })),
            ("cause", .optional(cause?.cause?.rawValue)),
            ("threshold", .optional(cause?.change.threshold)),
            ("actor", .optional(cause?.change.actor)),
            ("command", .optional(cause?.change.command)),
            ("state_age_ms", integer(cause?.change.stateAgeMilliseconds)),
            ("ejected_until", integer(cause?.change.event.data?.ejectedUntil)),
            ("detail", .optional(cause?.change.event.detail)),
            ("evidence", .array((cause?.evidence ?? []).map(json))),
            ("ended_by", report.ending.map(json) ?? .null),
            ("held_back", .array(report.heldBack.map(heldBackJSON))),
            ("instance", .optional(cause?.change.event.instance)),
            ("instances", .array(report.views.map { view in
                .object([("instance", .string(view.instance)), ("health", .string(view.health.rawValue)),
                         ("since", .optional(view.change.map { TimeText.rfc3339($0.event.at) })),
                         ("cause", .optional(view.change?.cause?.rawValue))])
            })),
        ])
    }

    /// One time traffic did not take the backend down: the guard held, or the request was blamed.
    static func heldBackJSON(_ event: Event) -> JSONValue {
        .object([
            ("at", .string(TimeText.rfc3339(event.at))),
            ("kind", .string(event.kind.rawValue)),
            ("request_id", .optional(event.requestID)),
            ("method", .optional(event.data?.method)),
            ("target", .optional(event.data?.target)),
            ("detail", .optional(event.detail)),
        ])
    }

    /// The change that ended a period.
    static func json(_ explanation: ChangeExplanation) -> JSONValue {
        let change = explanation.change
        return .object([
            ("at", .string(TimeText.rfc3339(change.event.at))),
            ("state", .optional(explanation.stateAfter)),
            ("cause", .optional(explanation.cause?.rawValue)),
            ("threshold", .optional(change.threshold)),
            ("actor", .optional(change.actor)),
            ("command", .optional(change.command)),
            ("state_age_ms", integer(change.stateAgeMilliseconds)),
            ("detail", .optional(change.event.detail)),
            ("evidence", .array(explanation.evidence.map(json))),
        ])
    }

    static func json(_ evidence: Evidence) -> JSONValue {
        .object([
            ("at", .string(TimeText.rfc3339(Timestamp(milliseconds: evidence.at)))),
            ("source", .string(evidence.source.rawValue)),
            ("request_id", .optional(evidence.requestID)),
            ("attempt", .optional(evidence.attempt)),
            ("error", .optional(evidence.error)),
            ("latency_ms", .optional(evidence.latencyMs)),
        ])
    }

    private static func integer(_ value: Int64?) -> JSONValue { value.map(JSONValue.integer) ?? .null }
}
