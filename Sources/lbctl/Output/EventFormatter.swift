import LBStore

/// Prints events as a table, JSON or CSV. The JSON shape is a contract (see the README):
/// `{"id","at","kind","backend","request_id","attempt","detail"}`.
struct EventFormatter {
    var colour: Bool

    static let columns: [TableFormatter.Column] = [
        .init("AT"), .init("KIND"), .init("BACKEND"), .init("REQUEST"), .init("ATTEMPT", .right), .init("DETAIL"),
    ]

    static let csvHeader = CSV.line(["id", "at", "kind", "backend", "request_id", "attempt", "detail"])

    var table: TableFormatter { TableFormatter(columns: Self.columns, colour: colour) }

    /// One table row.
    func cells(_ event: Event) -> [TableFormatter.Cell] {
        [
            .init(event.at.rfc3339, style: .dim),
            .init(event.kind.rawValue, style: Self.style(of: event.kind)),
            .init(event.backendURL ?? "-"),
            .init(event.requestID ?? "-"),
            .init(event.attempt.map(String.init) ?? "-"),
            .init(event.detail ?? ""),
        ]
    }

    /// The JSON object of one event.
    static func json(_ event: Event) -> JSONValue {
        .object([
            ("id", .integer(event.id)),
            ("at", .string(event.at.rfc3339)),
            ("kind", .string(event.kind.rawValue)),
            ("backend", .optional(event.backendURL)),
            ("request_id", .optional(event.requestID)),
            ("attempt", .optional(event.attempt)),
            ("detail", .optional(event.detail)),
        ])
    }

    /// One CSV record (after `csvHeader`).
    static func csv(_ event: Event) -> String {
        CSV.line([String(event.id), event.at.rfc3339, event.kind.rawValue, event.backendURL, event.requestID,
                  event.attempt.map(String.init), event.detail])
    }

    /// The colour a kind is shown in: trouble red, repetition yellow, changes of state bright.
    static func style(of kind: EventKind) -> TextStyle? {
        switch kind {
        case .failure, .rejected, .dropped, .storeError: return .red
        case .retry: return .yellow
        case .statusChange: return .magenta
        case .adminChange: return .cyan
        case .startup, .shutdown: return .blue
        case .attempt: return nil
        }
    }
}
