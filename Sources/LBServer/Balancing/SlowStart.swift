import NIOCore

/// Slow start (`--slow-start`): a backend that came back up ramps linearly from a small share to
/// its full weight over `duration` instead of taking its full share at once.
///
/// Effective weights are counted in thousandths of a registry weight (`scale`), so that a backend
/// of weight 1, the default, ramps too: max(1, weight × 1000 × elapsed / duration), from 1/1000
/// of its weight to all of it.
struct SlowStart: Sendable {
    /// Effective weights are in 1/`scale` of a registry weight.
    static let scale = 1_000
    /// Registry weights above this count as this, so sums of scaled weights cannot overflow.
    static let maximumWeight = 1_000_000

    /// How long the ramp takes; zero turns slow start off.
    let duration: TimeAmount
    /// Now, in `NIODeadline` uptime nanoseconds (the clock `BackendRuntime` stamps ramps with).
    let clock: @Sendable () -> UInt64

    init(duration: TimeAmount = .zero,
         clock: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }) {
        self.duration = duration
        self.clock = clock
    }

    static let off = SlowStart()

    /// The backend's full weight in thousandths (0 for weight 0).
    static func fullWeight(of backend: BackendRuntime) -> Int {
        min(max(backend.weight, 0), maximumWeight) * scale
    }

    /// The backend's weight in thousandths as slow start has it now. `now` caches the clock for
    /// one pick: pass 0 and the clock is read the first time a ramp needs it, at most once.
    func effectiveWeight(of backend: BackendRuntime, now: inout UInt64) -> Int {
        let full = Self.fullWeight(of: backend)
        guard full > 0, duration > .zero, let start = backend.rampStart else { return full }
        if now == 0 { now = clock() }
        let elapsed = now > start ? now - start : 0
        let length = UInt64(duration.nanoseconds)
        if elapsed >= length {
            // Over: later picks skip the clock for this backend.
            backend.endRamp(startedAt: start)
            return full
        }
        return max(1, Int(Double(full) * Double(elapsed) / Double(length)))
    }
}
