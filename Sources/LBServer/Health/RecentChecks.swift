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

    let capacity: Int
    private let ring: Mutex<Ring<Check>>

    init(capacity: Int = 60) {
        self.capacity = max(1, capacity)
        ring = Mutex(Ring(capacity: capacity))
    }

    /// Adds a result, forgetting the oldest once `capacity` are held.
    func append(_ check: Check) {
        ring.withLock { $0.append(check) }
    }

    /// The results held, oldest first.
    var checks: [Check] {
        ring.withLock { $0.elements }
    }
}
