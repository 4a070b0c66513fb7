#if DEBUG
import Foundation
@testable import LBFuzz
import Testing

/// The request-path fuzzer's seed corpus (`Fuzz/corpus`) through the pipeline libFuzzer drives,
/// as tests: a crash or a precondition failure here is what the fuzzer would report, and with no
/// backend registered every input is answered by the proxy itself.
@Suite struct RequestPathCorpusTests {
    static let corpus: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static let inputs: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []).sorted()

    @Test func theSeedCorpusIsThere() {
        #expect(Self.inputs.count >= 8)
    }

    @Test(arguments: inputs)
    func theRequestPathTakes(_ input: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(input)))
        let answer = bytes.withUnsafeBufferPointer { runRequestPath($0) }
        #expect(String(decoding: answer.prefix(7), as: UTF8.self) == "HTTP/1.", "\(input) got no answer")
    }
}
#endif
