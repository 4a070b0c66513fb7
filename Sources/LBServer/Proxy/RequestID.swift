import Synchronization

/// Request ids: the client's own `X-Request-Id` when it is sane, else a new one that is unique
/// across restarts (a random per-process prefix and a counter).
enum RequestID {
    /// The random part and its dash, made once per process, as the bytes every new id starts with.
    private static let prefix: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        return Array((String(value & 0xFFFF_FFFF_FFFF, radix: 16) + "-").utf8)
    }()

    private static let counter = Atomic<UInt64>(0)

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A fresh id such as `3fa9c02b71de-1a2`.
    ///
    /// Written byte by byte into one string allocation: every proxied request without an id of
    /// its own makes one, and the generic `String(_:radix:)` plus a concatenation cost about
    /// three times as much.
    static func make() -> String {
        let sequence = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let prefix = Self.prefix
        let digits = sequence == 0 ? 1 : (UInt64.bitWidth - sequence.leadingZeroBitCount + 3) / 4
        return String(unsafeUninitializedCapacity: prefix.count + digits) { buffer in
            var index = 0
            for byte in prefix {
                buffer[index] = byte
                index += 1
            }
            var rest = sequence
            for position in stride(from: index + digits - 1, through: index, by: -1) {
                buffer[position] = hexDigits[Int(rest & 0xF)]
                rest >>= 4
            }
            return index + digits
        }
    }

    /// Whether a client-supplied id can be kept: 1-128 characters of `[A-Za-z0-9._:-]`.
    static func isSane(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D || byte == 0x3A
        }
    }
}
