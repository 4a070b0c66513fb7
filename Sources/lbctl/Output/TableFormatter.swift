import LBText
/// Lays rows out as columns separated by two spaces, padded to the widest cell; given a width (a
/// terminal's), fits every line in it.
///
/// Styles are applied after padding, so escape codes never disturb the alignment; the last column
/// is not padded, so no line ends in spaces.
///
/// Fitting takes, in order, only as much as the width needs: the compact text of `.compact`
/// columns (a relative time for an absolute one; a URL without `http://`), then whole columns
/// that have a `hidePriority`, lowest first, while the rest would not fit even at their minimum,
/// then the width of `.url` and `.text` columns, the widest first, down to their minimum (a URL
/// loses the middle of its host; text is cut with `…`). Whatever is still too wide is cut with
/// `…`, so no line is ever longer than the width.
struct TableFormatter {
    /// Where a cell sits in its column: text left, numbers right.
    enum Alignment: Sendable {
        case left
        case right
    }

    /// How a column gives up room when the table is too wide.
    enum Shrink: Sendable, Equatable {
        /// Never narrower than its widest cell.
        case none
        /// Its cells' compact text (`Cell.compact`) when room is short.
        case compact
        /// A URL: `http://` dropped from every row, then the middle of a long host elided (the port
        /// kept), down to `minimum`.
        case url(minimum: Int)
        /// Free text, cut at the end with `…`, down to `minimum`.
        case text(minimum: Int)

        var isURL: Bool {
            if case .url = self { return true }
            return false
        }

        /// A URL or text column: one that is cut rather than kept whole.
        var isFreeText: Bool {
            switch self {
            case .url, .text: return true
            case .none, .compact: return false
            }
        }
    }

    /// A column's header title and alignment, and how it fits a narrow terminal.
    struct Column: Sendable {
        var title: String
        var alignment: Alignment
        var shrink: Shrink
        /// Left out when the table does not fit even shrunk: the lowest first; nil never.
        var hidePriority: Int?
        /// The title of a `.compact` column when its cells are compact.
        var compactTitle: String?

        init(_ title: String, _ alignment: Alignment = .left, shrink: Shrink = .none, hidePriority: Int? = nil,
             compactTitle: String? = nil) {
            self.title = title
            self.alignment = alignment
            self.shrink = shrink
            self.hidePriority = hidePriority
            self.compactTitle = compactTitle
        }
    }

    /// One cell: its text, shown safely, and an optional style.
    struct Cell: Sendable, ExpressibleByStringLiteral {
        var text: String
        var style: TextStyle?
        /// Columns the text takes: its characters.
        var width: Int
        /// A shorter text shown when its column is `.compact` and room is short.
        var compact: String?

        /// A cell showing `text` with control characters made visible (`\n`, `\u{1B}`…): a detail
        /// that came from a backend's error message can neither break a row nor drive the terminal.
        init(_ text: String, style: TextStyle? = nil, compact: String? = nil) {
            self.style = style
            self.compact = compact
            // Printable ASCII, by far the common case, needs neither cleaning nor grapheme counting.
            if text.isPlainPrintableASCII || text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                self.text = text
                width = text.utf8.count
            } else {
                self.text = text.unicodeScalars.contains(where: Self.isControl) ? Self.visible(text) : text
                width = self.text.count
            }
        }

        private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
        }

        private static func visible(_ text: String) -> String {
            var result = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\n": result += "\\n"
                case "\r": result += "\\r"
                case "\t": result += "\\t"
                case _ where isControl(scalar): result += "\\u{\(String(scalar.value, radix: 16))}"
                default: result.unicodeScalars.append(scalar)
                }
            }
            return result
        }

        init(stringLiteral value: String) { self.init(value) }
    }

    /// Where each column goes: its width, whether it shows at all, whether its cells show their
    /// compact text. Without a width limit, widths grow with any wider cell rendered later (a
    /// follower's batches); with one, they stay and cells are cut to them.
    struct Layout: Sendable {
        var widths: [Int]
        var hidden: [Bool]
        var compacted: [Bool]
        /// The width every line fits in, nil for none.
        var limit: Int?
    }

    var columns: [Column]
    var colour: Bool
    /// The width to fit (a terminal's), nil to print everything in full.
    var width: Int?

    init(columns: [Column], colour: Bool, width: Int? = nil) {
        self.columns = columns
        self.colour = colour
        self.width = width
    }

    /// The header line and every row.
    func render(_ rows: [[Cell]]) -> String {
        var layout = layout(for: rows, includingHeader: true)
        return renderHeader(layout: &layout) + renderRows(rows, layout: &layout)
    }

    /// Rows without a header line (a list of label and value).
    func renderWithoutHeader(_ rows: [[Cell]]) -> String {
        var layout = layout(for: rows, includingHeader: false)
        return renderRows(rows, layout: &layout)
    }

    /// The layout for `rows` (and the titles, when asked), fitted to `width` when there is one.
    func layout(for rows: [[Cell]], includingHeader: Bool) -> Layout {
        var natural = columns.map { includingHeader ? $0.title.count : 0 }
        let count = columns.count
        guard let width else {
            // No width to fit (a pipe, --wide): the widest cells, as fast as that can be read.
            for row in rows {
                for (index, cell) in row.prefix(count).enumerated() where cell.width > natural[index] {
                    natural[index] = cell.width
                }
            }
            return Layout(widths: natural, hidden: Array(repeating: false, count: count),
                          compacted: Array(repeating: false, count: count), limit: nil)
        }
        var compactNatural = columns.map { includingHeader ? ($0.compactTitle ?? $0.title).count : 0 }
        for row in rows {
            for (index, cell) in row.prefix(columns.count).enumerated() {
                natural[index] = max(natural[index], cell.width)
                // A URL's compact form is without `http://`, which a shrunk URL column drops from every row.
                let compact = cell.compact.map(Self.width)
                    ?? (columns[index].shrink.isURL && cell.text.hasPrefix("http://") ? cell.width - 7 : cell.width)
                compactNatural[index] = max(compactNatural[index], compact)
            }
        }
        var layout = Layout(widths: natural, hidden: Array(repeating: false, count: count),
                            compacted: Array(repeating: false, count: count), limit: width)
        guard Self.total(natural, layout.hidden) > width else { return layout }

        for index in 0..<count where (columns[index].shrink == .compact || columns[index].shrink.isURL)
            && compactNatural[index] < natural[index] {
            layout.compacted[index] = true
            layout.widths[index] = compactNatural[index]
        }
        guard Self.total(layout.widths, layout.hidden) > width else { return layout }

        // Each column's least width: a shrinkable one down to its minimum (never below its title).
        let titles = columns.map { includingHeader ? $0.title.count : 1 }
        let minimums = (0..<count).map { index -> Int in
            switch columns[index].shrink {
            case .url(let minimum), .text(let minimum): return min(layout.widths[index], max(minimum, titles[index]))
            case .none, .compact: return layout.widths[index]
            }
        }
        let hideOrder = (0..<count).filter { columns[$0].hidePriority != nil }
            .sorted { columns[$0].hidePriority! < columns[$1].hidePriority! }
        for index in hideOrder where Self.total(minimums, layout.hidden) > width {
            layout.hidden[index] = true
        }
        // The widest shrinkable column gives up a column at a time, so long URLs and long text
        // end up sharing the room rather than one of them losing it all.
        var excess = Self.total(layout.widths, layout.hidden) - width
        while excess > 0 {
            let candidates = (0..<count).filter { !layout.hidden[$0] && layout.widths[$0] > minimums[$0] }
            guard let widest = candidates.max(by: { layout.widths[$0] < layout.widths[$1] }) else { break }
            let next = candidates.filter { $0 != widest }.map { layout.widths[$0] }.max() ?? minimums[widest]
            // Down to the next widest (or its minimum), one column at a time when they tie.
            let taken = max(1, min(excess, layout.widths[widest] - max(next, minimums[widest])))
            layout.widths[widest] -= taken
            excess -= taken
        }
        // Still too wide at every minimum: URLs and text give up more, down to a few characters,
        // then the rightmost columns, down to one.
        for index in (0..<count).reversed() where excess > 0 && !layout.hidden[index] && columns[index].shrink.isFreeText {
            let taken = min(max(0, layout.widths[index] - 6), excess)
            guard taken > 0 else { continue }
            layout.widths[index] -= taken
            excess -= taken
        }
        for index in (0..<count).reversed() where excess > 0 && !layout.hidden[index] {
            let taken = min(layout.widths[index] - 1, excess)
            guard taken > 0 else { continue }
            layout.widths[index] -= taken
            excess -= taken
        }
        return layout
    }

    private static func total(_ widths: [Int], _ hidden: [Bool]) -> Int {
        var sum = 0
        var shown = 0
        for (index, width) in widths.enumerated() where !hidden[index] {
            sum += width
            shown += 1
        }
        return sum + 2 * max(0, shown - 1)
    }

    /// The header line.
    func renderHeader(layout: inout Layout) -> String {
        let header = columns.enumerated().map { index, column in
            Cell(layout.compacted[index] ? column.compactTitle ?? column.title : column.title, style: .bold)
        }
        return renderRows([header], layout: &layout, header: true)
    }

    /// Rows without a header, laid out in `layout`, whose widths grow where a cell is wider when
    /// it has no limit: a follower that prints batch after batch keeps its columns as steady as it can.
    func renderRows(_ rows: [[Cell]], layout: inout Layout) -> String {
        renderRows(rows, layout: &layout, header: false)
    }

    private func renderRows(_ rows: [[Cell]], layout: inout Layout, header: Bool) -> String {
        guard layout.limit != nil else { return renderInFull(rows, widths: &layout.widths) }
        // Fitted to a width: widths stay, hidden columns are skipped, cells are cut to their column.
        var output = ""
        output.reserveCapacity(rows.count * (layout.widths.reduce(0, +) + 2 * columns.count + 1))
        let lastShown = layout.hidden.lastIndex(of: false) ?? -1
        for row in rows {
            let last = min(min(row.count, columns.count) - 1, lastShown)
            for (index, original) in row.prefix(columns.count).enumerated() where !layout.hidden[index] {
                var cell = original
                let compacted = !header && layout.compacted[index]
                if compacted, let compact = cell.compact { cell = Cell(compact, style: cell.style) }
                // A shrunk URL column drops `http://` from every row alike, not only from the longest.
                if cell.width > layout.widths[index] || (compacted && columns[index].shrink.isURL) {
                    cell = shortened(cell, column: index, to: layout.widths[index])
                }
                append(cell, width: layout.widths[index], column: index, last: last, to: &output)
            }
            output += "\n"
        }
        return output
    }

    /// Rows laid out in `widths`, every column shown in full, widths growing where a cell is
    /// wider: the path of a pipe or `--wide`, tens of thousands of rows of `lbctl events`.
    private func renderInFull(_ rows: [[Cell]], widths: inout [Int]) -> String {
        var output = ""
        output.reserveCapacity(rows.count * (widths.reduce(0, +) + 2 * columns.count + 1))
        for row in rows {
            let last = min(row.count, columns.count) - 1
            for (index, cell) in row.prefix(columns.count).enumerated() {
                widths[index] = max(widths[index], cell.width)
                append(cell, width: widths[index], column: index, last: last, to: &output)
            }
            output += "\n"
        }
        return output
    }

    /// `cell` padded to `width` as its column aligns it, then the gap before the next column
    /// (none after the last, `last`, and no trailing spaces).
    @inline(__always)
    private func append(_ cell: Cell, width: Int, column index: Int, last: Int, to output: inout String) {
        let padding = width - cell.width
        let rightAligned = columns[index].alignment == .right
        if rightAligned { Self.appendSpaces(padding, to: &output) }
        if let style = cell.style, colour {
            output += style.apply(to: cell.text, enabled: true)
        } else {
            output += cell.text
        }
        if !rightAligned && index < last { Self.appendSpaces(padding, to: &output) }
        if index < last { output += "  " }
    }

    /// `cell` made to fit `width` characters as its column shrinks.
    private func shortened(_ cell: Cell, column: Int, to width: Int) -> Cell {
        let text: String
        if case .url = columns[column].shrink {
            text = Self.shortenedURL(cell.text, to: width)
        } else {
            text = Self.cut(cell.text, to: width)
        }
        return Cell(text, style: cell.style)
    }

    /// A URL (and any words after it, as " (removed)") in at most `width` characters: without
    /// `http://`, then with the middle of its host elided (`backend-…-west.example:8080`), the
    /// port and the words after kept; cut at the end only when even that is too long.
    static func shortenedURL(_ text: String, to width: Int) -> String {
        var url = Substring(text)
        var after = ""
        if let space = url.firstIndex(of: " ") {
            after = String(url[space...])
            url = url[..<space]
        }
        if url.hasPrefix("http://") { url = url.dropFirst(7) }
        var prefix = ""
        if let scheme = url.range(of: "://") {
            prefix = String(url[..<scheme.upperBound])
            url = url[scheme.upperBound...]
        }
        // The host ends at its port or path; an IPv6 literal at its bracket.
        let hostEnd = url.hasPrefix("[") ? (url.firstIndex(of: "]").map { url.index(after: $0) } ?? url.endIndex)
            : (url.firstIndex(where: { $0 == ":" || $0 == "/" }) ?? url.endIndex)
        let host = url[..<hostEnd]
        let rest = String(url[hostEnd...]) + after
        let room = width - prefix.count - rest.count
        if Self.width(of: prefix + host + rest) <= width { return prefix + host + rest }
        guard room >= 5 else { return cut(prefix + host + rest, to: width) }
        // Keep more of the host's end, where its distinguishing domain and number usually are.
        let head = (room - 1) / 2
        let tail = room - 1 - head
        return prefix + host.prefix(head) + "…" + host.suffix(tail) + rest
    }

    /// `text` in at most `width` characters, its end replaced by `…` when cut.
    static func cut(_ text: String, to width: Int) -> String {
        guard Self.width(of: text) > width else { return text }
        guard width > 1 else { return width == 1 ? "…" : "" }
        return String(text.prefix(width - 1)) + "…"
    }

    private static func width(of text: String) -> Int {
        text.utf8.allSatisfy({ $0 < 0x80 }) ? text.utf8.count : text.count
    }

    private static let spaces = String(repeating: " ", count: 256)

    private static func appendSpaces(_ count: Int, to output: inout String) {
        var remaining = count
        while remaining > 0 {
            let chunk = min(remaining, 256)
            output += spaces.prefix(chunk)
            remaining -= chunk
        }
    }
}
