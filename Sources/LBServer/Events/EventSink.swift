import Atomics
import LBStore
import Logging

/// Turns what the proxy and the health checker observe into event-log records and log lines.
///
/// Every call returns at once (the writer only queues); safe from any event loop. Store errors
/// are logged at most once a minute; what could not be written is counted by the writer.
final class EventSink: Sendable {
    let writer: EventWriter
    let logger: Logger
    init(writer: EventWriter, logger: Logger) {
        self.writer = writer
        self.logger = logger
    }

    private let noBackendLog = LogThrottle(intervalMilliseconds: 10_000)
    private let connectionLimitLog = LogThrottle(intervalMilliseconds: 10_000)

    /// A request found no backend alive; logged at most every ten seconds.
    func noBackendAvailable() {
        guard let count = noBackendLog.occurrence() else { return }
        logger.error("no backend is alive; answering 503", metadata: ["requests_since_last_report": "\(count)"])
    }

    /// A connection arrived beyond --max-connections and was closed; logged at most every ten
    /// seconds with how many were closed meanwhile.
    func connectionRefused() {
        guard let count = connectionLimitLog.occurrence() else { return }
        logger.warning("connection limit reached; closing new connections",
                       metadata: ["closed_since_last_report": "\(count)"])
    }

    /// A transport failure toward a backend.
    func failure(_ backend: BackendRuntime, requestID: String, attempt: Int, error: String) {
        writer.record(Event(at: .now(), kind: .failure, backendID: backend.id, requestID: requestID,
                            attempt: attempt, detail: error))
    }

    /// The same backend is about to be tried again.
    func retry(_ backend: BackendRuntime, requestID: String, attempt: Int, retry: Int) {
        writer.record(Event(at: .now(), kind: .retry, backendID: backend.id, requestID: requestID,
                            attempt: attempt, detail: "retry \(retry) on the same backend"))
    }

    /// The request moves on to another backend.
    func attempt(_ backend: BackendRuntime, requestID: String, attempt: Int, after previous: BackendRuntime) {
        writer.record(Event(at: .now(), kind: .attempt, backendID: backend.id, requestID: requestID,
                            attempt: attempt, detail: "failover from \(previous.url)"))
    }

    /// The balancer answered the client itself with an error status.
    func rejected(status: Int, requestID: String, backend: BackendRuntime?, reason: String) {
        writer.record(Event(at: .now(), kind: .rejected, backendID: backend?.id, requestID: requestID,
                            detail: "\(status) \(reason)"))
    }

    /// A backend's health changed. The record is committed before the change is logged, so the
    /// log never reports a change the database does not hold (unless the database is failing).
    func statusChange(_ backend: BackendRuntime, from old: Health, to new: Health, cause: String,
                      requestID: String? = nil) {
        let now = Timestamp.now()
        writer.record(Event(at: now, kind: .statusChange, backendID: backend.id, requestID: requestID,
                            detail: "\(old.rawValue)->\(new.rawValue) cause=\(cause)"))
        writer.recordHealth(backendID: backend.id, health: new, since: now)
        let logger = self.logger
        let url = backend.url.text
        writer.afterCommit { committed in
            var metadata: Logger.Metadata = ["backend": "\(url)", "from": "\(old.rawValue)", "to": "\(new.rawValue)",
                                             "cause": "\(cause)"]
            if !committed { metadata["recorded"] = "false" }
            if new == .down {
                logger.warning("backend down", metadata: metadata)
            } else {
                logger.info("backend \(new.rawValue)", metadata: metadata)
            }
        }
    }

    /// A health check result, for the compact history.
    func check(_ result: CheckResult) {
        writer.record(result)
    }
}
