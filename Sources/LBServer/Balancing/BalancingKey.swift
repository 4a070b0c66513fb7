/// What the `hash` algorithm hashes for one request, as a 64-bit hash: computed once per request
/// from the client address or a named header or cookie (`HashKey`), and kept for its retries.
struct BalancingKey: Sendable, Hashable {
    let hash: UInt64

    init(hash: UInt64) {
        self.hash = hash
    }

    init<Bytes: Sequence<UInt8>>(bytes: Bytes) {
        self.hash = Self.hash(bytes)
    }

    /// FNV-1a over `bytes`, then SplitMix64's finalizer to spread FNV's weak low bits. Stable
    /// across runs and machines, unlike Swift's per-process seeded `Hasher`: a restarted daemon
    /// must send each client where it went before.
    static func hash<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return SplitMixRandom.mix(hash)
    }
}
