import Synchronization
import LBStore

/// Lets a repeated log line through at most once per interval, counting what it held back, so a
/// flood of the same condition (a dead database, no backend alive) is one line a minute, not
/// thousands. Safe from any thread.
final class LogThrottle: Sendable {
    private let intervalMilliseconds: Int64
    private let lastLog = Atomic<Int64>(Int64.min / 2)
    private let occurrences = Atomic<Int>(0)

    init(intervalMilliseconds: Int64) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Counts one occurrence; returns how many there were since the last line let through when
    /// this one may be logged, nil when it must stay quiet.
    func occurrence(now: Timestamp = .now()) -> Int? {
        occurrences.wrappingAdd(1, ordering: .relaxed)
        let last = lastLog.load(ordering: .relaxed)
        guard now.milliseconds - last >= intervalMilliseconds,
              lastLog.compareExchange(expected: last, desired: now.milliseconds, ordering: .relaxed).exchanged
        else { return nil }
        return occurrences.exchange(0, ordering: .relaxed)
    }
}
