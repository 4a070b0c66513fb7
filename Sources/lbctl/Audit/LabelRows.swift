/// Places short text labels along the time axis on a few rows so that none overlaps another: each
/// goes on the first row where it clears every label already there, or is left out (the hover
/// title of its marker still says it). Widths come from `width(of:size:bold:)`, an estimate on
/// the generous side for the report's sans-serif font.
struct LabelRows {
    /// Left edge and right edge of each label placed, by row.
    private var taken: [[(start: Double, end: Double)]]
    /// Where labels may go, left to right.
    private let bounds: ClosedRange<Double>
    /// Space kept clear between two labels on a row.
    static let gap = 4.0

    init(rows: Int, within bounds: ClosedRange<Double>) {
        taken = Array(repeating: [], count: max(1, rows))
        self.bounds = bounds
    }

    /// The row and left edge for a label of `width` that should start at `x` (moved left when it
    /// would run past the right bound), or nil when no row has room for it there.
    mutating func place(at x: Double, width: Double) -> (row: Int, x: Double)? {
        let start = max(bounds.lowerBound, min(x, bounds.upperBound - width))
        let end = start + width
        for row in taken.indices {
            let clear = taken[row].allSatisfy { end + Self.gap <= $0.start || start >= $0.end + Self.gap }
            if clear {
                taken[row].append((start, end))
                return (row, start)
            }
        }
        return nil
    }

    /// The width `text` takes at `size` pixels: DejaVu Sans and its fallbacks average about 0.55 em
    /// a character in lower case and digits; 0.64 em (0.7 em bold) leaves room for wider ones.
    static func width(of text: String, size: Double, bold: Bool = false) -> Double {
        Double(text.count) * size * (bold ? 0.7 : 0.64)
    }
}
