import LBText
/// Lays rows out as columns separated by two spaces, padded to the widest cell.
///
/// Styles are applied after padding, so escape codes never disturb the alignment; the last column
/// is not padded, so no line ends in spaces.
struct TableFormatter {
    /// Where a cell sits in its column: text left, numbers right.
    enum Alignment: Sendable {
        case left
        case right
    }

    /// A column's header title and alignment.
    struct Column: Sendable {
        var title: String
        var alignment: Alignment

        init(_ title: String, _ alignment: Alignment = .left) {
            self.title = title
            self.alignment = alignment
        }
    }

    /// One cell: its text, shown safely, and an optional style.
    struct Cell: Sendable, ExpressibleByStringLiteral {
        var text: String
        var style: TextStyle?
        /// Columns the text takes: its characters.
        var width: Int

        /// A cell showing `text` with control characters made visible (`\n`, `\u{1B}`…): a detail
        /// that came from a backend's error message can neither break a row nor drive the terminal.
        init(_ text: String, style: TextStyle? = nil) {
            self.style = style
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

    var columns: [Column]
    var colour: Bool

    init(columns: [Column], colour: Bool) {
        self.columns = columns
        self.colour = colour
    }

    /// The header line and every row.
    func render(_ rows: [[Cell]]) -> String {
        var widths = columnWidths(rows, includingHeader: true)
        return renderHeader(widths: &widths) + renderRows(rows, widths: &widths)
    }

    /// The width of each column for `rows` (and the titles, when asked).
    func columnWidths(_ rows: [[Cell]], includingHeader: Bool) -> [Int] {
        var widths = columns.map { includingHeader ? $0.title.count : 0 }
        for row in rows {
            for (index, cell) in row.prefix(columns.count).enumerated() {
                widths[index] = max(widths[index], cell.width)
            }
        }
        return widths
    }

    /// The header line, widening `widths` to the titles if needed.
    func renderHeader(widths: inout [Int]) -> String {
        let header = columns.map { Cell($0.title, style: .bold) }
        return renderRows([header], widths: &widths)
    }

    /// Rows without a header, laid out in `widths`, which grow where a cell is wider: a follower
    /// that prints batch after batch keeps its columns as steady as it can.
    func renderRows(_ rows: [[Cell]], widths: inout [Int]) -> String {
        var output = ""
        output.reserveCapacity(rows.count * (widths.reduce(0, +) + 2 * columns.count + 1))
        for row in rows {
            let last = min(row.count, columns.count) - 1
            for (index, cell) in row.prefix(columns.count).enumerated() {
                widths[index] = max(widths[index], cell.width)
                let padding = widths[index] - cell.width
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
            output += "\n"
        }
        return output
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
