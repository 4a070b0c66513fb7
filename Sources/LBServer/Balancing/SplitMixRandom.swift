import Synchronization

/// SplitMix64 over an atomic counter: a random source every event loop can draw from at once
/// without a lock, seedable so tests see a fixed sequence. Each draw adds the golden-ratio
/// increment to the shared state atomically, so concurrent draws never return the same value.
///
/// Not for secrets: it picks between backends.
final class SplitMixRandom: Sendable {
    private let state: Atomic<UInt64>

    init(seed: UInt64) {
        state = Atomic(seed)
    }

    /// Seeded from the system's generator, once.
    convenience init() {
        self.init(seed: UInt64.random(in: .min ... .max))
    }

    func next() -> UInt64 {
        Self.mix(state.wrappingAdd(0x9e37_79b9_7f4a_7c15, ordering: .relaxed).newValue)
    }

    /// A number in `0..<bound` (bound > 0); the modulo bias is below 2^-32 for any bound a
    /// balancer sees.
    func next(below bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// SplitMix64's finalizer: every input bit affects every output bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
