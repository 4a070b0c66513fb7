import LBStore
import Synchronization

/// The last few health-check results of one backend, kept in memory for the status page so that
/// it never reads the health history from SQLite.
///
/// Appended to by the health checker's event loop, read by the admin listener's; a mutex held
/// for a copy of at most `capacity` small values, never across I/O.
final class RecentChecks: Sendable {
    /// One check result as the status page shows it.
    struct Check: Sendable {
        var at: Timestamp
        var passed: Bool
        var latencyMilliseconds: Double
        var error: String?
    }

    private struct Ring {
        var checks: [Check] = []
        var next = 0
    }

    let capacity: Int
    private let ring = Mutex(Ring())

    init(capacity: Int = 60) {
        self.capacity = max(1, capacity)
    }

    /// Adds a result, forgetting the oldest once `capacity` are held.
    func append(_ check: Check) {
        ring.withLock { ring in
            if ring.checks.count < capacity {
                ring.checks.append(check)
            } else {
                ring.checks[ring.next] = check
            }
            ring.next = (ring.next + 1) % capacity
        }
    }

    /// The results held, oldest first.
    var checks: [Check] {
        ring.withLock { ring in
            guard ring.checks.count == capacity else { return ring.checks }
            return Array(ring.checks[ring.next...] + ring.checks[..<ring.next])
        }
    }
}
