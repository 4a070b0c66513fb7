extension String {
    /// The text with `& < > " '` escaped, safe inside HTML and SVG text and attribute values.
    /// Shared by `lbctl audit --html` and the daemon's status page.
    public var htmlEscaped: String {
        var output = ""
        output.reserveCapacity(utf8.count)
        for character in self {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.append(character)
            }
        }
        return output
    }
}
