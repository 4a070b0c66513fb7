import LBStore

/// Prints backend summaries as a table, JSON or CSV. The JSON shape is a contract (see the README).
///
/// Summaries rebuilt for an instant (`lbctl backends --at`) read "before" that instant instead of
/// "ago", show since when a drained or disabled state held, and add the keys `pastFieldNames`.
struct BackendSummaryFormatter {
    var colour: Bool
    /// Now, or the instant asked for.
    var now: Timestamp
    /// How the table writes times.
    var times: TimeDisplay
    /// The width the table fits (a terminal's), nil for none.
    var width: Int? = nil

    /// On a narrow terminal SINCE shows only how long ago, FAILURES 24H is titled FAIL 24H, URLs
    /// shorten, and ORIGIN, BACKUP and WEIGHT are left out, in that order, as far as the width needs.
    static let columns: [TableFormatter.Column] = [
        .init("URL", shrink: .url(minimum: 18)), .init("HEALTH"), .init("SINCE", shrink: .compact),
        .init("ADMIN", shrink: .compact), .init("WEIGHT", .right, hidePriority: 3), .init("BACKUP", hidePriority: 2),
        .init("UPTIME 24H", .right), .init("FAILURES 24H", .right, shrink: .compact, compactTitle: "FAIL 24H"),
        .init("ORIGIN", hidePriority: 1),
    ]

    static let fieldNames = ["url", "health", "health_since", "admin_state", "weight", "added_at", "origin",
                             "uptime_24h", "failures_24h", "removed_at"] + settingFieldNames
    /// The per-backend settings (`BackendSetting`, in its order): timeouts in milliseconds, null
    /// for none (the daemon's own setting).
    static let settingFieldNames = ["backup", "max_connections", "connect_timeout_ms", "response_timeout_ms", "tls_verify"]
    /// Added after `fieldNames` for a summary rebuilt for an instant.
    static let pastFieldNames = ["at", "admin_state_since", "weight_since"]

    func table(_ summaries: [BackendSummary]) -> String {
        guard !summaries.isEmpty else { return "no backends in the registry\n" }
        let rows = summaries.map { summary -> [TableFormatter.Cell] in
            let backend = summary.backend
            let since = summary.shownHealthSince
            let relative = summary.past == nil
                ? TimeText.ago(since, now: now)
                : TimeText.duration(milliseconds: now.milliseconds - since.milliseconds) + " before"
            var admin = backend.adminState.rawValue
            if let past = summary.past, past.adminState != .enabled {
                admin += " since \(times.seconds(past.adminStateSince))"
            }
            return [
                .init(backend.url + (backend.isRemoved ? " (removed)" : ""), style: backend.isRemoved ? .dim : nil),
                summary.fleetHealth.map { fleet in
                    .init("\(fleet.health.rawValue) on \(fleet.agreeing) of \(fleet.of)",
                          style: fleet.agreeing == fleet.of ? Self.style(of: fleet.health) : .yellow)
                } ?? (summary.uncheckedSince == nil ? .init(backend.health.rawValue, style: Self.style(of: backend.health))
                      : .init("not checked", style: .dim)),
                .init("\(times.seconds(since)) (\(relative))", compact: relative),
                .init(admin, style: Self.style(of: backend.adminState), compact: backend.adminState.rawValue),
                .init(String(backend.weight)),
                .init(backend.settings.backup ? "yes" : "no", style: backend.settings.backup ? .yellow : nil),
                // Over what the checks observed, as `history` says, when that is less than the day.
                .init(TimeText.percent(summary.uptime)
                      + (summary.observedLessThanWindow.map { " over \(TimeText.duration(milliseconds: $0))" } ?? "")),
                .init(String(summary.failures), style: summary.failures > 0 ? .red : nil),
                .init(backend.origin.rawValue),
            ]
        }
        return TableFormatter(columns: Self.columns, colour: colour, width: width).render(rows)
    }

    /// One row; `stale` is `HealthFreshness.json` (null for a row rebuilt for an instant).
    static func json(_ summary: BackendSummary, stale: JSONValue = .null) -> JSONValue {
        let backend = summary.backend
        var members: [(String, JSONValue)] = [
            ("url", .string(backend.url)),
            ("health", .string(summary.shownHealth)),
            ("health_since", .string(TimeText.rfc3339(summary.shownHealthSince))),
            ("admin_state", .string(backend.adminState.rawValue)),
            ("weight", .integer(Int64(backend.weight))),
            ("added_at", .string(TimeText.rfc3339(backend.addedAt))),
            ("origin", .string(backend.origin.rawValue)),
            ("uptime_24h", .optional(summary.uptime)),
            ("failures_24h", .integer(Int64(summary.failures))),
            ("removed_at", .optional(backend.removedAt.map(TimeText.rfc3339))),
            ("backup", .bool(backend.settings.backup)),
            ("max_connections", .optional(backend.settings.maxConnections)),
            ("connect_timeout_ms", backend.settings.connectTimeoutMilliseconds.map(JSONValue.integer) ?? .null),
            ("response_timeout_ms", backend.settings.responseTimeoutMilliseconds.map(JSONValue.integer) ?? .null),
            ("tls_verify", .bool(backend.settings.tlsVerify)),
        ]
        if let past = summary.past {
            members += zip(pastFieldNames, pastFields(past).map(JSONValue.string)).map { ($0, $1) }
        }
        members.append(("instances", .array(summary.views.map { view in
            .object([("instance", .string(view.instance)), ("health", .string(view.health.rawValue)),
                     ("health_since", .string(TimeText.rfc3339(view.since)))])
        })))
        members.append(("stale", stale))
        return .object(members)
    }

    /// The values of `pastFieldNames`, in order.
    private static func pastFields(_ past: PastBackendState) -> [String] {
        [TimeText.rfc3339(past.instant), TimeText.rfc3339(past.adminStateSince), TimeText.rfc3339(past.weightSince)]
    }

    /// CSV with the JSON keys as header; `past` adds the columns of `pastFieldNames`.
    static func csv(_ summaries: [BackendSummary], past: Bool = false) -> String {
        CSV.line(fieldNames + (past ? pastFieldNames : [])) + summaries.map { summary in
            let backend = summary.backend
            let fields = [backend.url, summary.shownHealth, TimeText.rfc3339(summary.shownHealthSince),
                          backend.adminState.rawValue, String(backend.weight), TimeText.rfc3339(backend.addedAt),
                          backend.origin.rawValue, summary.uptime.map { String($0) }, String(summary.failures),
                          backend.removedAt.map(TimeText.rfc3339), String(backend.settings.backup),
                          backend.settings.maxConnections.map(String.init),
                          backend.settings.connectTimeoutMilliseconds.map { String($0) },
                          backend.settings.responseTimeoutMilliseconds.map { String($0) },
                          String(backend.settings.tlsVerify)]
            return CSV.line(fields + (summary.past.map(pastFields) ?? []))
        }.joined()
    }

    static func style(of health: Health) -> TextStyle {
        switch health {
        case .up: return .green
        case .down: return .red
        case .unknown: return .yellow
        }
    }

    static func style(of state: AdminState) -> TextStyle? {
        switch state {
        case .enabled: return nil
        case .drained: return .yellow
        case .disabled: return .dim
        }
    }
}
