import Atomics
import LBStore
import Logging

/// Logs event-log write failures at most once a minute, with how many happened meanwhile.
/// Called on the writer thread.
final class StoreErrorReporter: Sendable {
    private let logger: Logger
    private let lastLog = ManagedAtomic<Int64>(0)
    private let failuresSinceLog = ManagedAtomic<Int>(0)

    init(logger: Logger) {
        self.logger = logger
    }

    func report(_ error: StoreError) {
        failuresSinceLog.wrappingIncrement(ordering: .relaxed)
        let now = Timestamp.now().milliseconds
        let last = lastLog.load(ordering: .relaxed)
        guard now - last >= 60_000,
              lastLog.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else { return }
        let failures = failuresSinceLog.exchange(0, ordering: .relaxed)
        logger.error("cannot write the event log; traffic continues and records stay queued until it can",
                     metadata: ["error": "\(error.message)", "failed_batches": "\(failures)"])
    }
}
