import LBText
import Testing

/// The escaping both programs share: one JSON string writer (the daemon's JSON log lines and
/// `lbctl`'s JSON once had two that disagreed on DEL) and HTML text.
@Suite struct TextEscapingTests {
    private func json(_ value: String) -> String {
        var output = ""
        JSONString.append(value, to: &output)
        return output
    }

    @Test func plainTextIsCopiedWhole() {
        #expect(json("GET /a?b=c 200") == "\"GET /a?b=c 200\"")
        #expect(json("") == "\"\"")
    }

    @Test func quotesBackslashesAndControlsAreEscaped() {
        #expect(json("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(json("l1\nl2\r\tx") == "\"l1\\nl2\\r\\tx\"")
        #expect(json("\u{0}\u{1f}") == "\"\\u0000\\u001f\"")
    }

    @Test func delIsEscapedAndNonASCIIIsKept() {
        #expect(json("a\u{7F}b") == "\"a\\u007fb\"")
        #expect(json("café ☕") == "\"café ☕\"")
    }

    @Test func escapedTextWithoutQuotesIsForKeyValueQuoting() {
        var output = ""
        JSONString.appendEscaped("say \"hi\"", to: &output)
        #expect(output == "say \\\"hi\\\"")
    }

    @Test func htmlSpecialCharactersAreEscaped() {
        #expect("<a href=\"x\">Tom & 'Jerry'</a>".htmlEscaped
                == "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;")
    }
}
