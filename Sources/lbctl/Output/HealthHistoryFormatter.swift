import Foundation
import LBStore

/// Prints one backend's health runs and uptime as a table, JSON or CSV (shapes in the README).
struct HealthHistoryFormatter {
    var colour: Bool
    /// How the table writes times.
    var times: TimeDisplay
    /// The width the table and its summary fit (a terminal's), nil for none.
    var width: Int? = nil

    /// On a narrow terminal TO shows only its time of day when it is on FROM's day, LAST ERROR is
    /// cut, and LATENCY is left out, as far as the width needs.
    static let columns: [TableFormatter.Column] = [
        .init("FROM"), .init("TO", shrink: .compact), .init("RESULT"), .init("CHECKS", .right),
        .init("LATENCY MIN/AVG/MAX", hidePriority: 1), .init("LAST ERROR", shrink: .text(minimum: 16)),
    ]

    static let csvHeader = CSV.line(["first_at", "last_at", "passed", "count", "latency_min_ms", "latency_avg_ms",
                                     "latency_max_ms", "last_error"])

    func table(_ history: HealthHistory, url: String) -> String {
        let window = "\(TimeText.duration(milliseconds: history.range.durationMilliseconds)) "
            + "(\(times.seconds(history.range.start)) to \(times.seconds(history.range.end)))"
        guard !history.runs.isEmpty else {
            return LineWrap.wrap("\(url): no health checks recorded in the \(window)\n", width: width)
        }
        // Uptime is measured over what the checks saw, which may be far less than the window asked
        // for: a backend added 80 s ago has 80 s of history, not 24 h.
        let observed = history.observed.map { span in
            "\(TimeText.duration(milliseconds: span.durationMilliseconds)) observed "
                + "(\(times.seconds(span.start)) to \(times.seconds(span.end)))"
        } ?? "no time observed"
        var summary = "\(url): uptime \(TimeText.percent(history.uptime)) over \(observed) in the "
            + "\(TimeText.duration(milliseconds: history.range.durationMilliseconds)) asked for, \(history.checks) checks\n"
        // A fleet: each daemon's own series, side by side in time.
        let fleet = !history.instances.isEmpty
        for instance in history.instances {
            summary += "  \(instance.instance ?? "(unnamed)"): uptime \(TimeText.percent(instance.uptime)), \(instance.checks) checks\n"
        }
        let columns = fleet ? [TableFormatter.Column("INSTANCE", shrink: .text(minimum: 8))] + Self.columns : Self.columns
        let rows = history.runs.map { run -> [TableFormatter.Cell] in
            let from = times.seconds(run.firstAt)
            let to = times.seconds(run.lastAt)
            return (fleet ? [TableFormatter.Cell(run.instance ?? "-")] : []) + [
                .init(from),
                .init(to, compact: Self.clock(of: to, sameDayAs: from)),
                .init(run.passed ? "pass" : "fail", style: run.passed ? .green : .red),
                .init(String(run.count)),
                .init("\(Self.milliseconds(run.minLatencyMilliseconds)) / \(Self.milliseconds(run.averageLatencyMilliseconds)) / \(Self.milliseconds(run.maxLatencyMilliseconds))"),
                .init(run.lastError ?? ""),
            ]
        }
        return TableFormatter(columns: columns, colour: colour, width: width).render(rows) + "\n"
            + LineWrap.wrap(summary, width: width)
    }

    /// `to`'s time of day (`10:15:00`) when it has the date and offset of `from`, else nil.
    private static func clock(of to: String, sameDayAs from: String) -> String? {
        guard to.utf8.count == from.utf8.count, to.prefix(11) == from.prefix(11),
              to.dropFirst(19) == from.dropFirst(19) else { return nil }
        return String(to.dropFirst(11).prefix(8))
    }

    static func json(_ history: HealthHistory, url: String) -> JSONValue {
        .object([
            ("url", .string(url)),
            ("from", .string(TimeText.rfc3339(history.range.start))),
            ("to", .string(TimeText.rfc3339(history.range.end))),
            ("observed_from", .optional(history.observed.map { TimeText.rfc3339($0.start) })),
            ("observed_to", .optional(history.observed.map { TimeText.rfc3339($0.end) })),
            ("uptime", .optional(history.uptime)),
            ("checks", .integer(Int64(history.checks))),
            ("runs", .array(history.runs.map { run in
                .object([
                    ("first_at", .string(TimeText.rfc3339(run.firstAt))),
                    ("last_at", .string(TimeText.rfc3339(run.lastAt))),
                    ("passed", .bool(run.passed)),
                    ("count", .integer(Int64(run.count))),
                    ("latency_min_ms", .number(run.minLatencyMilliseconds)),
                    ("latency_avg_ms", .number(run.averageLatencyMilliseconds)),
                    ("latency_max_ms", .number(run.maxLatencyMilliseconds)),
                    ("last_error", .optional(run.lastError)),
                    ("instance", .optional(run.instance)),
                ])
            })),
            ("instances", .array(history.instances.map { instance in
                .object([("instance", .optional(instance.instance)), ("uptime", .optional(instance.uptime)),
                         ("checks", .integer(Int64(instance.checks)))])
            })),
        ])
    }

    static func csv(_ history: HealthHistory) -> String {
        csvHeader + history.runs.map { run in
            CSV.line([TimeText.rfc3339(run.firstAt), TimeText.rfc3339(run.lastAt), run.passed ? "true" : "false", String(run.count),
                      String(run.minLatencyMilliseconds), String(run.averageLatencyMilliseconds),
                      String(run.maxLatencyMilliseconds), run.lastError])
        }.joined()
    }

    /// A latency to one decimal: "12.3ms".
    static func milliseconds(_ value: Double) -> String { String(format: "%.1fms", value) }
}
