import Testing
@testable import LBServer

@Suite struct RequestIDTests {
    /// The random prefix and the counter of an id, the counter read back as a number.
    private func parts(_ id: String) -> (prefix: Substring, sequence: UInt64)? {
        let pieces = id.split(separator: "-")
        guard pieces.count == 2, let sequence = UInt64(pieces[1], radix: 16) else { return nil }
        return (pieces[0], sequence)
    }

    @Test func newIdsShareTheProcessPrefixAndCountUpInLowercaseHex() throws {
        let ids = (0..<300).map { _ in RequestID.make() }
        let parsed = try ids.map { try #require(parts($0), "\($0)") }
        #expect(Set(parsed.map(\.prefix)).count == 1)
        let prefix = try #require(parsed.first?.prefix)
        #expect((1...12).contains(prefix.count))
        // Other tests may make ids at the same time; this thread's still rise strictly.
        #expect(zip(parsed, parsed.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        for id in ids {
            #expect(RequestID.isSane(id))
            #expect(id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || $0 == 0x2D }, "\(id)")
            // Written digit by digit: no leading zeros, so it reads back as the same text.
            let sequence = try #require(parts(id)).sequence
            #expect(id.hasSuffix("-" + String(sequence, radix: 16)))
        }
    }
}
