/// Where a chunk-size line's extension has come to, byte by byte, in RFC 9112 §7.1.1's grammar:
///
///     chunk-ext     = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
///     chunk-ext-val = token / quoted-string
///
/// The proxy forwards no extension (a body is re-chunked from its payload), so only the shape
/// matters: a line that is not this grammar is refused rather than guessed at, as a recipient
/// further on might read it differently. Whitespace before the line's CR is not in the grammar.
enum ChunkExtension: Equatable {
    /// Just after the size's digits; only `;` or whitespace come next (the scanner handles CR).
    case afterSize
    /// Whitespace after the size or a value: more of it, or the next `;`.
    case spaceBeforeSemicolon
    /// After a `;`: whitespace, then the name's first byte.
    case beforeName
    case name
    /// Whitespace after a name: more of it, `=`, or the next `;`.
    case spaceAfterName
    /// After `=`: whitespace, then a token or a quoted string.
    case beforeValue
    case tokenValue
    case quotedValue
    /// After a backslash inside a quoted value.
    case quotedPair
    /// Just after a quoted value's closing quote.
    case afterQuotedValue

    /// Whether a CR may end the size line here.
    var mayEndLine: Bool {
        switch self {
        case .name, .tokenValue, .afterQuotedValue: true
        default: false
        }
    }

    /// Where the extension is after `byte` (never a CR: the scanner ends the line on it).
    func next(_ byte: UInt8) throws(HeadError) -> ChunkExtension {
        let isSpace = byte == HeadSyntax.space || byte == HeadSyntax.tab
        switch self {
        case .afterSize, .spaceBeforeSemicolon, .afterQuotedValue:
            if byte == UInt8(ascii: ";") { return .beforeName }
            if isSpace { return .spaceBeforeSemicolon }
        case .beforeName:
            if isSpace { return .beforeName }
            if HeadSyntax.isToken(byte) { return .name }
        case .name, .spaceAfterName:
            if HeadSyntax.isToken(byte) && self == .name { return .name }
            if isSpace { return .spaceAfterName }
            if byte == UInt8(ascii: "=") { return .beforeValue }
            if byte == UInt8(ascii: ";") { return .beforeName }
        case .beforeValue:
            if isSpace { return .beforeValue }
            if byte == UInt8(ascii: "\"") { return .quotedValue }
            if HeadSyntax.isToken(byte) { return .tokenValue }
        case .tokenValue:
            if HeadSyntax.isToken(byte) { return .tokenValue }
            if isSpace { return .spaceBeforeSemicolon }
            if byte == UInt8(ascii: ";") { return .beforeName }
        case .quotedValue:
            // qdtext is a field value's bytes less the quote and the backslash (RFC 9110 §5.6.4).
            if byte == UInt8(ascii: "\"") { return .afterQuotedValue }
            if byte == UInt8(ascii: "\\") { return .quotedPair }
            if HeadSyntax.isFieldValueByte(byte) { return .quotedValue }
        case .quotedPair:
            if HeadSyntax.isFieldValueByte(byte) { return .quotedValue }
        }
        throw .malformed(HeadSyntax.isFieldValueByte(byte)
                         ? "malformed chunk extension" : "control character in a chunk extension")
    }
}
