import NIOCore

/// What the proxy counts of one backend: tries sent, answers by status class, failed tries,
/// retries, and the latency histogram of its answers. Totals since the backend joined this daemon,
/// read by `/metrics` and sampled each second for the status page's last minute.
///
/// Every event loop that proxies to the backend writes here, so each count is a relaxed atomic
/// add: no lock, no allocation, nothing ordered with anything else. A scrape reads the slots one
/// by one, so a request counted meanwhile may be in one total and not yet in another.
final class BackendStats: Sendable {

    /// The latency histogram's upper bounds, in nanoseconds: from 100 µs (a loopback answer)
    /// to 30 s (past the default response timeout only by a retry).
    static let bucketBounds: [Int] = [
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000,
        10_000_000_000, 30_000_000_000,
    ]

    /// The totals at one moment.
    struct Snapshot: Equatable, Sendable {
        /// Tries sent to the backend (a retry is a try of its own).
        var requests = 0
        /// Answers by status class: index 0 is 1xx, 4 is 5xx.
        var responses = [Int](repeating: 0, count: 5)
        /// Tries that failed on the transport: refused, reset, timed out, an invalid answer.
        var failures = 0
        /// Tries repeated on this backend after one failed.
        var retries = 0
        /// Answers per latency bucket, not cumulative; the last entry counts those above every bound.
        var buckets = [Int](repeating: 0, count: BackendStats.bucketBounds.count + 1)
        var latencySumNanoseconds = 0

        /// Answers in the histogram.
        var answered: Int { buckets.reduce(0, +) }
        /// Failed tries and 5xx answers: what the status page calls errors.
        var errors: Int { failures + responses[4] }

        /// What happened between `earlier` and this snapshot.
        func since(_ earlier: Snapshot) -> Snapshot {
            Snapshot(requests: requests - earlier.requests,
                     responses: zip(responses, earlier.responses).map(-),
                     failures: failures - earlier.failures, retries: retries - earlier.retries,
                     buckets: zip(buckets, earlier.buckets).map(-),
                     latencySumNanoseconds: latencySumNanoseconds - earlier.latencySumNanoseconds)
        }

        /// The `quantile` (0...1) of the latencies in the histogram, in seconds, interpolated
        /// linearly inside its bucket as Prometheus's `histogram_quantile` does; nil with no
        /// answers. Beyond the last bound it says the last bound.
        func latencyQuantile(_ quantile: Double) -> Double? {
            let total = answered
            guard total > 0 else { return nil }
            let rank = quantile * Double(total)
            var below = 0
            for (index, count) in buckets.enumerated() where count > 0 {
                guard Double(below + count) >= rank else {
                    below += count
                    continue
                }
                let bounds = BackendStats.bucketBounds
                guard index < bounds.count else { return Double(bounds[bounds.count - 1]) / 1e9 }
                let lower = index == 0 ? 0 : Double(bounds[index - 1])
                let upper = Double(bounds[index])
                return (lower + (upper - lower) * max(0, rank - Double(below)) / Double(count)) / 1e9
            }
            return Double(BackendStats.bucketBounds[BackendStats.bucketBounds.count - 1]) / 1e9
        }
    }

    private static let requestSlot = 0
    private static let responseSlots = 1..<6
    private static let failureSlot = 6
    private static let retrySlot = 7
    private static let bucketSlots = 8..<(8 + bucketBounds.count + 1)
    private static let sumSlot = bucketSlots.upperBound
    private static let slotCount = sumSlot + 1

    private let slots = CounterSlots(count: BackendStats.slotCount)

    init() {}

    deinit {
        slots.deallocate()
    }

    @inline(__always)
    private func add(_ amount: Int, to slot: Int) {
        slots.add(amount, to: slot)
    }

    /// A try was sent on its way to the backend.
    @inline(__always)
    func countRequest() { add(1, to: Self.requestSlot) }

    /// The backend answered with `status` (a final answer or a 101).
    @inline(__always)
    func countResponse(status: Int) {
        let index = status / 100 - 1
        guard index >= 0 && index < Self.responseSlots.count else { return }
        add(1, to: Self.responseSlots.lowerBound + index)
    }

    /// A try failed on the transport (what the event log records as a `failure`).
    func countFailure() { add(1, to: Self.failureSlot) }

    /// A try is repeated on this backend.
    func countRetry() { add(1, to: Self.retrySlot) }

    /// Records how long an answer took, from its try's start to its end.
    @inline(__always)
    func recordLatency(from start: NIODeadline, to end: NIODeadline) {
        let nanoseconds = max(0, Int(truncatingIfNeeded: end.uptimeNanoseconds &- start.uptimeNanoseconds))
        var bucket = 0
        let bounds = Self.bucketBounds
        while bucket < bounds.count && nanoseconds > bounds[bucket] { bucket += 1 }
        add(1, to: Self.bucketSlots.lowerBound + bucket)
        add(nanoseconds, to: Self.sumSlot)
    }

    /// The totals so far; safe from any thread.
    func snapshot() -> Snapshot {
        let value = slots.value
        return Snapshot(requests: value(Self.requestSlot), responses: Self.responseSlots.map(value),
                        failures: value(Self.failureSlot), retries: value(Self.retrySlot),
                        buckets: Self.bucketSlots.map(value), latencySumNanoseconds: value(Self.sumSlot))
    }
}
