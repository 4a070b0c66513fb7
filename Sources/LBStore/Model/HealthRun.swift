/// The outcome of one active health check.
public struct CheckResult: Hashable, Sendable {
    public var backendID: Int64
    public var at: Timestamp
    public var passed: Bool
    public var latencyMilliseconds: Double
    /// Why the check failed, as the checker saw it ("connection refused", "HTTP 503 from /healthz").
    public var error: String?

    public init(backendID: Int64, at: Timestamp, passed: Bool, latencyMilliseconds: Double, error: String? = nil) {
        self.backendID = backendID
        self.at = at
        self.passed = passed
        self.latencyMilliseconds = latencyMilliseconds
        self.error = error
    }
}

/// A run of equal consecutive check results for one backend, stored as one row.
public struct HealthRun: Hashable, Sendable {
    public var id: Int64
    public var backendID: Int64
    public var passed: Bool
    public var firstAt: Timestamp
    public var lastAt: Timestamp
    public var count: Int
    public var minLatencyMilliseconds: Double
    public var maxLatencyMilliseconds: Double
    public var averageLatencyMilliseconds: Double
    public var lastError: String?
    /// The daemon whose checks these were (nil before schema v8, and for a single node's seed).
    public var instance: String?

    public init(id: Int64, backendID: Int64, passed: Bool, firstAt: Timestamp, lastAt: Timestamp, count: Int,
                minLatencyMilliseconds: Double, maxLatencyMilliseconds: Double,
                averageLatencyMilliseconds: Double, lastError: String?, instance: String? = nil) {
        self.id = id
        self.backendID = backendID
        self.passed = passed
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.count = count
        self.minLatencyMilliseconds = minLatencyMilliseconds
        self.maxLatencyMilliseconds = maxLatencyMilliseconds
        self.averageLatencyMilliseconds = averageLatencyMilliseconds
        self.lastError = lastError
        self.instance = instance
    }
}

/// The health runs of one backend over a window, with the share of that window it was passing.
public struct HealthHistory: Hashable, Sendable {
    public var runs: [HealthRun]
    public var range: TimeRange
    /// Fraction of the checked time inside `range` that the backend passed, or nil with no checks.
    public var uptime: Double?
    public var checks: Int
    /// In a fleet (runs from more than one daemon): each daemon's own uptime and checks, by name.
    /// `runs` then interleave theirs, and `uptime` is the passing share of all their checked time.
    public var instances: [InstanceUptime] = []

    /// The part of `range` the checks saw, over which `uptime` is measured: from the window's start,
    /// or the first check when the backend was first checked later (it was added later, or older
    /// runs were pruned), to the last check in it. Nil without a check in the window.
    public var observed: TimeRange? {
        guard let firstAt = runs.map(\.firstAt).min(), let lastAt = runs.map(\.lastAt).max() else { return nil }
        let start = max(range.start, firstAt)
        let end = min(range.end, lastAt)
        return end >= start ? TimeRange(start: start, end: end) : nil
    }
}

/// One daemon's uptime of a backend over a window, from its own checks.
public struct InstanceUptime: Hashable, Sendable {
    public var instance: String?
    public var uptime: Double?
    public var checks: Int
}
