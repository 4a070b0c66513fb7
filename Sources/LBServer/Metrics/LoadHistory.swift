import Synchronization

/// One backend's `BackendStats` totals as sampled once a second over the last minute, so the
/// status page can say what the last minute held (requests and errors per second, p50 and p99
/// latency) without anything on the request path but the totals' atomic adds.
///
/// Written by the sampler once a second, read by the admin listener: a mutex held for a copy of
/// one snapshot, never across I/O.
final class LoadHistory: Sendable {
    /// What the last minute held, as the status page shows it.
    struct LastMinute: Equatable, Sendable {
        /// How many seconds it covers: 60 once the backend has been sampled that long, less before.
        var seconds: Double
        var requestsPerSecond: Double
        var errorsPerSecond: Double
        /// Latency quantiles in seconds; nil when nothing was answered.
        var p50: Double?
        var p99: Double?
    }

    private struct Sample {
        var uptimeNanoseconds: UInt64
        var totals: BackendStats.Snapshot
    }

    /// Seconds covered, and so samples kept (one more than that, to reach back a whole minute).
    let windowSeconds: Int
    private let ring: Mutex<Ring<Sample>>

    init(windowSeconds: Int = 60) {
        self.windowSeconds = max(1, windowSeconds)
        ring = Mutex(Ring(capacity: self.windowSeconds + 1))
    }

    /// Keeps `totals` as the sample taken at `uptimeNanoseconds`, forgetting the oldest once the
    /// window is full.
    func record(_ totals: BackendStats.Snapshot, at uptimeNanoseconds: UInt64) {
        ring.withLock { $0.append(Sample(uptimeNanoseconds: uptimeNanoseconds, totals: totals)) }
    }

    /// What happened between the oldest sample still within the window and `current`, taken at
    /// `uptimeNanoseconds`; nil before the first sample or when under a tenth of a second passed.
    func lastMinute(current: BackendStats.Snapshot, at uptimeNanoseconds: UInt64) -> LastMinute? {
        let windowNanoseconds = UInt64(windowSeconds) * 1_000_000_000
        let oldest: Sample? = ring.withLock { ring in
            ring.unordered.filter { uptimeNanoseconds &- $0.uptimeNanoseconds <= windowNanoseconds
                                    && $0.uptimeNanoseconds <= uptimeNanoseconds }
                .min { $0.uptimeNanoseconds < $1.uptimeNanoseconds }
        }
        guard let oldest else { return nil }
        let seconds = Double(uptimeNanoseconds - oldest.uptimeNanoseconds) / 1e9
        guard seconds >= 0.1 else { return nil }
        let change = current.since(oldest.totals)
        return LastMinute(seconds: seconds, requestsPerSecond: Double(change.requests) / seconds,
                          errorsPerSecond: Double(change.errors) / seconds,
                          p50: change.latencyQuantile(0.5), p99: change.latencyQuantile(0.99))
    }
}
