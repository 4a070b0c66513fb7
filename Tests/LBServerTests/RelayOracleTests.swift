#if DEBUG
import Foundation
@testable import LBFuzz
@testable import LBServer
import Testing

/// The relay fuzzer's oracle (`RelayOracle`) over every input of its seed corpus
/// (`Fuzz/corpus-relay`, one file per smuggling and framing shape): what the proxy does with each
/// must break none of its rules. The same check libFuzzer runs, as a test that names the shape.
@Suite struct RelayOracleTests {
    static let corpus: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus-relay")

    static let inputs: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []).sorted()

    @Test func theSeedCorpusHoldsEveryShape() {
        #expect(Self.inputs.count >= 40)
    }

    @Test(arguments: inputs)
    func theRelayKeepsEveryOracleRuleFor(_ input: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(input)))
        let violations = RelayOracle.check(bytes, skipping: [])
        #expect(violations.isEmpty, "\(input):\n\(violations.map(\.description).joined(separator: "\n"))")
    }

    @Test func aNaiveBackendReadsAForwardedTrailerAsItsNextRequest() {
        // The reason the naive comparison stops at the first request with trailers.
        var parser = NaiveRequestParser()
        parser.append(Array("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n".utf8))
        #expect(parser.next()?.body == Array("hello".utf8))
        #expect(parser.next()?.method == "X:")
    }

    @Test func aNaiveBackendHonoursOnlyAnExactChunkedLine() {
        for line in ["Transfer-Encoding: chunked,", "Transfer-Encoding: identity, chunked", "Transfer-Encoding:  chunked",
                     "Transfer-Encoding: chunked ", "Transfer-Encoding : chunked", "Transfer-Encoding:chunked"] {
            var parser = NaiveRequestParser()
            parser.append(Array("POST /a HTTP/1.1\r\n\(line)\r\n\r\n3\r\nabc\r\n0\r\n\r\n".utf8))
            #expect(parser.next()?.body == [], "\(line)")
        }
        var parser = NaiveRequestParser()
        parser.append(Array("POST /a HTTP/1.1\r\ntransfer-ENCODING: chunked\r\n\r\n3;x\r\nabc\r\n0\r\n\r\n".utf8))
        #expect(parser.next()?.body == Array("abc".utf8))
        #expect(parser.bufferedBytes == 0)
    }
}
#endif
