import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Keeps traffic alone from emptying the pool: within one health-down interval, failed requests
/// may mark down at most half of the enabled backends (rounded down, so never the only one).
/// Past that, only health checks can take a backend down, and the caller records that the
/// guard held. Shared by every event loop; consulted only when a backend is about to be marked
/// down, so its lock is off the request path.
final class TrafficMarkDownGuard: Sendable {
    /// How far back a traffic mark-down counts (the daemon's `--health-down-interval`, which a
    /// reload may change).
    var window: TimeAmount { .nanoseconds(windowNanoseconds.load(ordering: .relaxed)) }
    private let windowNanoseconds: Synchronization.Atomic<Int64>
    /// Backends marked down by traffic and when, newest last. NIO's lock rather than
    /// `Synchronization.Mutex`: several event loops may take it at once, and ThreadSanitizer
    /// reports a contended Mutex falsely (see `DaemonMetrics`).
    private let recent = NIOLockedValueBox<[(backendID: Int64, at: NIODeadline)]>([])

    init(window: TimeAmount) {
        windowNanoseconds = Synchronization.Atomic(window.nanoseconds)
    }

    func setWindow(_ window: TimeAmount) { windowNanoseconds.store(window.nanoseconds, ordering: .relaxed) }

    /// The most backends traffic may mark down within one window.
    static func limit(enabledBackends: Int) -> Int { enabledBackends / 2 }

    /// Whether traffic may mark `backendID` down at `now`; if so, it is counted from then on.
    /// `ejected`: the backends outlier detection holds out, which count against the same half
    /// (the two together never take out more than it).
    func admit(_ backendID: Int64, enabledBackends: Int, now: NIODeadline, ejected: Set<Int64> = []) -> Bool {
        let limit = Self.limit(enabledBackends: enabledBackends)
        let window = self.window
        return recent.withLockedValue { recent in
            recent.removeAll { now - $0.at >= window }
            let alsoOut = ejected.subtracting(recent.map(\.backendID)).count
            guard recent.count + alsoOut < limit else { return false }
            recent.append((backendID, now))
            return true
        }
    }

    /// The backends traffic marked down within the window before `now`.
    func recentlyMarkedDown(now: NIODeadline) -> Set<Int64> {
        let window = self.window
        return recent.withLockedValue { recent in Set(recent.filter { now - $0.at < window }.map(\.backendID)) }
    }

    /// Takes back an admission that did not end in a mark-down (another caller got there first).
    func release(_ backendID: Int64) {
        recent.withLockedValue { recent in
            if let index = recent.lastIndex(where: { $0.backendID == backendID }) { recent.remove(at: index) }
        }
    }
}
