import LBStore
import Logging

/// Logs event-log write failures at most once a minute, with how many happened meanwhile.
/// Called on the writer thread.
final class StoreErrorReporter: Sendable {
    private let logger: Logger
    private let throttle = LogThrottle(intervalMilliseconds: 60_000)

    init(logger: Logger) {
        self.logger = logger
    }

    func report(_ error: StoreError) {
        guard let failures = throttle.occurrence() else { return }
        logger.error("cannot write the event log; traffic continues and records stay queued until it can",
                     metadata: ["error": "\(error.message)", "failed_batches": "\(failures)"])
    }
}
