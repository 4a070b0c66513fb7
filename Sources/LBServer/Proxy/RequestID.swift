import Atomics

/// Request ids: the client's own `X-Request-Id` when it is sane, else a new one that is unique
/// across restarts (a random per-process prefix and a counter).
enum RequestID {
    /// The random part and its dash, made once per process.
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        return String(value & 0xFFFF_FFFF_FFFF, radix: 16) + "-"
    }()

    private static let counter = ManagedAtomic<UInt64>(0)

    /// A fresh id such as `3fa9c02b71de-1a2`.
    static func make() -> String {
        let sequence = counter.loadThenWrappingIncrement(ordering: .relaxed)
        return prefix + String(sequence, radix: 16)
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
