import LBStore

/// Writes events to stdout in the chosen format, a chunk at a time, so a window of tens of
/// thousands of events never becomes one giant string; and, for `--follow`, batch after batch
/// with steady table columns and one JSON object per line.
struct EventPrinter {
    let format: OutputFormat
    /// Following: JSON is one object per line instead of one array.
    let following: Bool
    let formatter: EventFormatter
    private var layout: TableFormatter.Layout

    /// Events formatted per write.
    static let chunkSize = 2_000

    init(format: OutputFormat, following: Bool, colour: Bool, times: TimeDisplay, width: Int? = nil) {
        self.format = format
        self.following = following
        formatter = EventFormatter(colour: colour, times: times, width: width)
        layout = formatter.table.layout(for: [], includingHeader: true)
    }

    /// A row as wide as events usually get, so a follower's table fitted to a terminal leaves each
    /// column room for the events still to come (its widths are kept, and wider cells cut).
    private func typicalRow(at instant: Timestamp) -> [TableFormatter.Cell] {
        let kind = EventKind.allCases.map(\.rawValue).max { $0.count < $1.count } ?? ""
        return formatter.cells(Event(id: 0, at: instant, kind: .attempt, backendURL: "http://255.255.255.255:65535",
                                     requestID: String(repeating: "0", count: 16), attempt: 10,
                                     detail: String(repeating: "x", count: 200)))
            .enumerated().map { $0.offset == 1 ? TableFormatter.Cell(kind) : $0.element }
    }

    /// The first batch, with the table header or CSV header (or the JSON array around it).
    mutating func printFirst(_ events: [Event]) {
        switch format {
        case .table:
            if events.isEmpty && !following {
                Terminal.write("no events match\n")
                return
            }
            // Widths from the whole batch, so every chunk lines up with the header.
            let rows = events.map(formatter.cells)
            let fitsTerminal = following && formatter.width != nil
            layout = formatter.table.layout(for: fitsTerminal ? rows + [typicalRow(at: .now())] : rows, includingHeader: true)
            Terminal.write(formatter.table.renderHeader(layout: &layout))
            for chunk in rows.chunks(of: Self.chunkSize) {
                Terminal.write(formatter.table.renderRows(Array(chunk), layout: &layout))
            }
            return
        case .csv:
            Terminal.write(EventFormatter.csvHeader)
        case .json:
            if !following {
                printJSONArray(events)
                return
            }
        }
        printMore(events)
    }

    /// A later batch: rows only.
    mutating func printMore(_ events: [Event]) {
        for chunk in events.chunks(of: Self.chunkSize) {
            switch format {
            case .table: Terminal.write(formatter.table.renderRows(chunk.map(formatter.cells), layout: &layout))
            case .csv: Terminal.write(chunk.map(EventFormatter.csv).joined())
            case .json: Terminal.write(chunk.map { EventFormatter.compactJSON($0) + "\n" }.joined())
            }
        }
    }

    /// `[`, one object per line, `]`: the same text as `JSONValue.lines` of `EventFormatter.json`,
    /// written in chunks.
    private func printJSONArray(_ events: [Event]) {
        guard !events.isEmpty else {
            Terminal.write("[]\n")
            return
        }
        Terminal.write("[\n")
        var written = 0
        for chunk in events.chunks(of: Self.chunkSize) {
            var text = ""
            text.reserveCapacity(chunk.count * 200)
            for event in chunk {
                written += 1
                text += "  " + EventFormatter.compactJSON(event) + (written < events.count ? ",\n" : "\n")
            }
            Terminal.write(text)
        }
        Terminal.write("]\n")
    }
}
