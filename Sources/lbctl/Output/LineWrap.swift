/// Breaks the lines of a report that are longer than a terminal's width at spaces, continuing
/// each on the next line indented, so prose around a table fits the same width the table does.
enum LineWrap {
    /// `text` (lines ending in `\n`) with every line longer than `width` wrapped; unchanged
    /// without a width. Never breaks before a number that continues one (the space inside
    /// `2026-12-03 09:14:05+01:00`, or `2h 05m`), so a time stays whole and can be pasted back.
    static func wrap(_ text: String, width: Int?, indent: String = "    ") -> String {
        guard let width, width > indent.count + 10 else { return text }
        var output = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
            output += wrapLine(line, width: width, indent: indent) + "\n"
        }
        return text.hasSuffix("\n") ? output : String(output.dropLast())
    }

    private static func wrapLine(_ line: Substring, width: Int, indent: String) -> String {
        guard line.count > width else { return String(line) }
        // Each character and the columns it takes: none inside a colour's escape code.
        var characters: [(character: Character, columns: Int)] = []
        var inEscape = false
        for character in line {
            if character == "\u{1B}" { inEscape = true }
            characters.append((character, inEscape ? 0 : 1))
            if inEscape && character.isLetter { inEscape = false }
        }
        let leading = line.prefix(while: { $0 == " " }).count
        let prefix = Array(String(repeating: " ", count: leading) + indent).map { ($0, 1) }
        var lines: [String] = []
        var rest = characters[...]
        var prefixLength = leading
        while rest.reduce(0, { $0 + $1.columns }) > width {
            let start = rest.startIndex
            // The index at which the columns reach the width.
            var used = 0
            var limit = start
            while limit < rest.endIndex, used + rest[limit].columns <= width {
                used += rest[limit].columns
                limit += 1
            }
            let breakable = { (index: Int) -> Bool in
                guard rest[index].character == " ", index - start > prefixLength else { return false }
                // Not before a number that continues a number: a time's clock, a span's minutes.
                guard index + 1 < rest.endIndex, rest[index + 1].character.isNumber else { return true }
                let word = Array(rest[start..<index].reversed().prefix { $0.character != " " }.map(\.character).reversed())
                return !Self.endsANumber(word)
            }
            // The last space that may break within the width; else the first after it.
            guard let cut = stride(from: min(limit, rest.endIndex - 1), to: start + prefixLength, by: -1).first(where: breakable)
                ?? (limit..<rest.endIndex).first(where: breakable)
            else { break }
            lines.append(String(rest[start..<cut].map(\.character)))
            let remaining = Array(prefix) + rest[(cut + 1)...]
            rest = remaining[...]
            prefixLength = prefix.count
        }
        lines.append(String(rest.map(\.character)))
        return lines.joined(separator: "\n")
    }

    /// Whether `word` is or ends a number (`2026-12-03`, `13`), or is a number with a unit (`2h`,
    /// `(13d`): a space after it and before a digit holds the two together.
    private static func endsANumber(_ word: [Character]) -> Bool {
        guard let last = word.last else { return false }
        if last.isNumber { return true }
        let core = word.drop(while: { $0 == "(" })
        guard core.first?.isNumber == true else { return false }
        let unit = core.drop(while: \.isNumber)
        return unit.count <= 2 && unit.allSatisfy(\.isLetter)
    }
}
