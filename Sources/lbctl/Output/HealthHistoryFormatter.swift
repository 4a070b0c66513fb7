import Foundation
import LBStore

/// Prints one backend's health runs and uptime as a table, JSON or CSV (shapes in the README).
struct HealthHistoryFormatter {
    var colour: Bool

    static let columns: [TableFormatter.Column] = [
        .init("FROM"), .init("TO"), .init("RESULT"), .init("CHECKS", .right), .init("LATENCY MIN/AVG/MAX"),
        .init("LAST ERROR"),
    ]

    static let csvHeader = CSV.line(["first_at", "last_at", "passed", "count", "latency_min_ms", "latency_avg_ms",
                                     "latency_max_ms", "last_error"])

    func table(_ history: HealthHistory, url: String) -> String {
        let window = "\(TimeText.duration(milliseconds: history.range.durationMilliseconds)) "
            + "(\(TimeText.seconds(history.range.start)) to \(TimeText.seconds(history.range.end)))"
        guard !history.runs.isEmpty else { return "\(url): no health checks recorded in the \(window)\n" }
        // Uptime is measured over what the checks saw, which may be far less than the window asked
        // for: a backend added 80 s ago has 80 s of history, not 24 h.
        let observed = history.observed.map { span in
            "\(TimeText.duration(milliseconds: span.durationMilliseconds)) observed "
                + "(\(TimeText.seconds(span.start)) to \(TimeText.seconds(span.end)))"
        } ?? "no time observed"
        var summary = "\(url): uptime \(TimeText.percent(history.uptime)) over \(observed) in the "
            + "\(TimeText.duration(milliseconds: history.range.durationMilliseconds)) asked for, \(history.checks) checks\n"
        // A fleet: each daemon's own series, side by side in time.
        let fleet = !history.instances.isEmpty
        for instance in history.instances {
            summary += "  \(instance.instance ?? "(unnamed)"): uptime \(TimeText.percent(instance.uptime)), \(instance.checks) checks\n"
        }
        let columns = fleet ? [TableFormatter.Column("INSTANCE")] + Self.columns : Self.columns
        let rows = history.runs.map { run -> [TableFormatter.Cell] in
            (fleet ? [TableFormatter.Cell(run.instance ?? "-")] : []) + [
                .init(TimeText.seconds(run.firstAt)),
                .init(TimeText.seconds(run.lastAt)),
                .init(run.passed ? "pass" : "fail", style: run.passed ? .green : .red),
                .init(String(run.count)),
                .init("\(Self.milliseconds(run.minLatencyMilliseconds)) / \(Self.milliseconds(run.averageLatencyMilliseconds)) / \(Self.milliseconds(run.maxLatencyMilliseconds))"),
                .init(run.lastError ?? ""),
            ]
        }
        return TableFormatter(columns: columns, colour: colour).render(rows) + "\n" + summary
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
