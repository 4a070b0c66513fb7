import LBStore

/// Prints events as a table, JSON or CSV. The JSON shape is a contract (see the README):
/// `{"id","at","kind","backend","request_id","attempt","detail","count","instance","data"}`, where
/// `count` is how many occurrences a coalesced row (`rejected`, `refused`) stands for, 1 for any
/// other, `instance` the daemon that recorded it (null for lbctl's own records and older rows), and
/// `data` the structured facts `why` reads, as stored (`EventData`), or null; the table shows the
/// count as "×N" after the detail of a row that stands for more than one.
struct EventFormatter {
    var colour: Bool
    /// How the table writes times.
    var times: TimeDisplay
    /// The width the table fits (a terminal's), nil for none.
    var width: Int? = nil

    /// On a narrow terminal AT drops its milliseconds, BACKEND shortens, DETAIL is cut, and
    /// ATTEMPT then REQUEST are left out, as far as the width needs.
    static let columns: [TableFormatter.Column] = [
        .init("AT", shrink: .compact), .init("KIND"), .init("BACKEND", shrink: .url(minimum: 16)),
        .init("REQUEST", shrink: .text(minimum: 12), hidePriority: 2), .init("ATTEMPT", .right, hidePriority: 1),
        .init("DETAIL", shrink: .text(minimum: 20)),
    ]

    static let csvHeader = CSV.line(["id", "at", "kind", "backend", "request_id", "attempt", "detail", "count", "instance"])

    var table: TableFormatter { TableFormatter(columns: Self.columns, colour: colour, width: width) }

    /// One table row.
    func cells(_ event: Event) -> [TableFormatter.Cell] {
        [
            // The compact form (to the second) is made only where a width may call for it.
            .init(times.milliseconds(event.at), style: .dim, compact: width == nil ? nil : times.seconds(event.at)),
            .init(event.kind.rawValue, style: Self.style(of: event.kind)),
            .init(event.backendURL ?? "-"),
            .init(event.requestID ?? "-"),
            .init(event.attempt.map(String.init) ?? "-"),
            .init(Self.detailText(event)),
        ]
    }

    /// The detail as the table shows it: with "×N" when the row stands for N > 1 occurrences.
    static func detailText(_ event: Event) -> String {
        let detail = event.detail ?? ""
        guard event.count > 1 else { return detail }
        return detail.isEmpty ? "×\(event.count)" : "\(detail) ×\(event.count)"
    }

    /// The JSON object of one event.
    static func json(_ event: Event) -> JSONValue {
        .object([
            ("id", .integer(event.id)),
            ("at", .string(TimeText.rfc3339(event.at))),
            ("kind", .string(event.kind.rawValue)),
            ("backend", .optional(event.backendURL)),
            ("request_id", .optional(event.requestID)),
            ("attempt", .optional(event.attempt)),
            ("detail", .optional(event.detail)),
            ("count", .integer(Int64(event.count))),
            ("instance", .optional(event.instance)),
            ("data", event.data.map { .raw($0.json) } ?? .null),
        ])
    }

    /// The same text as `json(event).compact`, written straight into a string: printing an hour
    /// of a busy log is tens of thousands of these.
    static func compactJSON(_ event: Event) -> String {
        var text = "{\"id\":"
        text.reserveCapacity(160 + (event.detail?.utf8.count ?? 0))
        text += String(event.id)
        text += ",\"at\":\""
        text += TimeText.rfc3339(event.at)
        text += "\",\"kind\":\""
        text += event.kind.rawValue
        text += "\",\"backend\":"
        appendJSON(event.backendURL, to: &text)
        text += ",\"request_id\":"
        appendJSON(event.requestID, to: &text)
        text += ",\"attempt\":"
        text += event.attempt.map(String.init) ?? "null"
        text += ",\"detail\":"
        appendJSON(event.detail, to: &text)
        text += ",\"count\":"
        text += String(event.count)
        text += ",\"instance\":"
        appendJSON(event.instance, to: &text)
        text += ",\"data\":"
        text += event.data?.json ?? "null"
        text += "}"
        return text
    }

    private static func appendJSON(_ value: String?, to text: inout String) {
        guard let value else {
            text += "null"
            return
        }
        JSONValue.writeString(value, to: &text)
    }

    /// One CSV record (after `csvHeader`).
    static func csv(_ event: Event) -> String {
        CSV.line([String(event.id), TimeText.rfc3339(event.at), event.kind.rawValue, event.backendURL, event.requestID,
                  event.attempt.map(String.init), event.detail, String(event.count), event.instance])
    }

    /// The colour a kind is shown in: trouble red, repetition yellow, changes of state bright.
    static func style(of kind: EventKind) -> TextStyle? {
        switch kind {
        case .failure, .rejected, .dropped, .storeError, .suspectRequest: return .red
        case .retry, .guardHeld, .refused: return .yellow
        case .statusChange: return .magenta
        case .adminChange, .prune: return .cyan
        case .startup, .shutdown, .reload: return .blue
        case .attempt: return nil
        }
    }
}
