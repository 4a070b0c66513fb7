import LBStore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Turns what the proxy and the health checker observe into event-log records and log lines.
///
/// Every call returns at once (the writer only queues); safe from any event loop. Store errors
/// are logged at most once a minute; what could not be written is counted by the writer. What
/// comes by the thousand (`rejected`, `refused`) goes through an `EventCoalescer`: one row per
/// second per kind, backend and detail with the exact count; `flushCoalesced()` writes what it
/// still holds and must run before the writer closes.
final class EventSink: Sendable {
    let writer: EventWriter
    let logger: Logger
    /// The daemon's metrics (a failure or retry is counted on its backend's `stats`).
    let metrics: DaemonMetrics
    /// Benchmark only (`--discard-events`): events are neither built nor queued, so a run can
    /// measure what recording them costs. Metrics, log lines, health check results and a
    /// backend's last known health are kept as usual.
    let discardsEvents: Bool
    /// Merges `rejected` and `refused` occurrences. NIO's lock rather than `Synchronization.Mutex`:
    /// ThreadSanitizer reports the contended Mutex falsely (see `DaemonMetrics`). It is held for a
    /// dictionary update, never across I/O; the rows it hands back are queued after it is released.
    private let coalescer: NIOLockedValueBox<EventCoalescer>
    /// Where merged rows are flushed once their second is over; without one (tests, the fuzzer)
    /// they are written by the key's next occurrence or by `flushCoalesced()`.
    private let flushLoop: EventLoop?
    private let flushIntervalMilliseconds: Int64

    init(writer: EventWriter, logger: Logger, metrics: DaemonMetrics = DaemonMetrics(), discardsEvents: Bool = false,
         coalescer: EventCoalescer = EventCoalescer(), flushLoop: EventLoop? = nil) {
        self.writer = writer
        self.logger = logger
        self.metrics = metrics
        self.discardsEvents = discardsEvents
        self.coalescer = NIOLockedValueBox(coalescer)
        self.flushLoop = flushLoop
        flushIntervalMilliseconds = coalescer.intervalMilliseconds
    }

    private let noBackendLog = LogThrottle(intervalMilliseconds: 10_000)
    private let connectionLimitLog = LogThrottle(intervalMilliseconds: 10_000)
    private let ejectionHeldLog = LogThrottle(intervalMilliseconds: 10_000)

    /// A request found no backend to go to; logged at most every ten seconds, saying whether none
    /// was alive or the live ones were all at their connection limit.
    func noBackendAvailable(allAtLimit: Bool) {
        guard let count = noBackendLog.occurrence() else { return }
        logger.error(allAtLimit ? "every live backend is at its connection limit; answering 503"
                                : "no backend is alive; answering 503",
                     metadata: ["requests_since_last_report": "\(count)"])
    }

    /// A connection arrived beyond --max-connections and was closed; logged at most every ten
    /// seconds with how many were closed meanwhile.
    func connectionRefused() {
        guard let count = connectionLimitLog.occurrence() else { return }
        logger.warning("connection limit reached; closing new connections",
                       metadata: ["closed_since_last_report": "\(count)"])
    }

    /// A transport failure toward a backend; returns it as evidence for a status change. `via`:
    /// how the client's request came (`HTTP/2 over TLSv1.3`).
    @discardableResult
    func failure(_ backend: BackendRuntime, requestID: String, attempt: Int, error: String, via: String? = nil) -> Evidence {
        let now = Timestamp.now()
        backend.stats.countFailure()
        record(Event(at: now, kind: .failure, backendID: backend.id, requestID: requestID,
                     attempt: attempt, detail: error, data: via.map { EventData(via: $0) }))
        return Evidence(at: now, source: .request, requestID: requestID, attempt: attempt, error: error)
    }

    /// The same backend is about to be tried again.
    func retry(_ backend: BackendRuntime, requestID: String, attempt: Int, retry: Int) {
        backend.stats.countRetry()
        record(Event(at: .now(), kind: .retry, backendID: backend.id, requestID: requestID,
                     attempt: attempt, detail: "retry \(retry) on the same backend"))
    }

    /// The request moves on to another backend.
    func attempt(_ backend: BackendRuntime, requestID: String, attempt: Int, after previous: BackendRuntime) {
        record(Event(at: .now(), kind: .attempt, backendID: backend.id, requestID: requestID,
                     attempt: attempt, detail: "failover from \(previous.url)"))
    }

    /// The balancer answered the client itself with an error status (502, 503, 504); coalesced.
    func rejected(status: Int, requestID: String, backend: BackendRuntime?, reason: String,
                  clientAddress: String? = nil) {
        coalesce(EventCoalescer.Key(kind: .rejected, backendID: backend?.id, status: status, reason: reason),
                 requestID: requestID, client: clientAddress)
    }

    /// The proxy refused a client's request as the client's fault (400, 408, 414, 431, 501, 505);
    /// coalesced. `requestID` is nil when the refusal came before a request id was known.
    func refused(status: Int, reason: String, requestID: String?, clientAddress: String) {
        coalesce(EventCoalescer.Key(kind: .refused, backendID: nil, status: status, reason: reason),
                 requestID: requestID, client: clientAddress)
    }

    /// Counts one occurrence of `key`; writes the row the coalescer hands back, if any, and asks
    /// for a flush when the coalescer wants one.
    private func coalesce(_ key: EventCoalescer.Key, requestID: String?, client: String?) {
        guard !discardsEvents else { return }
        let now = Timestamp.now()
        switch coalescer.withLockedValue({ $0.add(key, at: now, requestID: requestID, client: client) }) {
        case .write(let event): writer.record(event)
        case .merged: break
        case .mergedFlushDue(let due): scheduleFlush(at: due, now: now)
        }
    }

    private func scheduleFlush(at due: Timestamp, now: Timestamp) {
        guard let flushLoop else { return }
        // Never further off than one interval, whatever the wall clock did meanwhile.
        let delay = min(max(0, due.milliseconds - now.milliseconds), flushIntervalMilliseconds)
        flushLoop.scheduleTask(in: .milliseconds(delay)) { [self] in flushDueRows() }
    }

    /// Writes the merged rows whose second is over; runs on `flushLoop`, only queues.
    private func flushDueRows() {
        let now = Timestamp.now()
        let (rows, next) = coalescer.withLockedValue { $0.flushDue(at: now) }
        for row in rows { writer.record(row) }
        if let next { scheduleFlush(at: next, now: now) }
    }

    /// Queues every merged occurrence not written yet; from then on each occurrence is its own
    /// row, which a closed writer counts as dropped. Called by the stop before the writer closes,
    /// so no count is lost.
    func flushCoalesced() {
        let rows = coalescer.withLockedValue { $0.flushAll() }
        for row in rows { writer.record(row) }
    }

    /// A request failed the same way on `backend` as on the backends tried before it: the
    /// request, not the backends, is suspected, and `backend` is not marked down for it.
    func suspectedRequest(_ backend: BackendRuntime, requestID: String, method: String, target: String, error: String,
                          earlierBackends: [Int64]) {
        logger.warning("suspected request of death: it failed the same way on two backends",
                       metadata: ["request_id": "\(requestID)", "method": "\(method)", "target": "\(target)",
                                  "backend": "\(backend.url.text)", "error": "\(error)"])
        record(Event(at: .now(), kind: .suspectRequest, backendID: backend.id, requestID: requestID,
                     detail: "\(method) \(target) failed the same way on \(earlierBackends.count + 1) backends "
                         + "(\(error)); not marked down",
                     data: EventData(cause: .request, evidence: [
                        Evidence(at: .now(), source: .request, requestID: requestID, error: error),
                     ], method: method, target: target, backendIDs: earlierBackends + [backend.id])))
    }

    /// Outlier detection would have ejected `backend`, but `limit` backends already are: it stays
    /// in service, and its count of failures in a row starts again.
    func ejectionHeld(_ backend: BackendRuntime, limit: Int, percent: Int, evidence: [Evidence]) {
        if let count = ejectionHeldLog.occurrence() {
            logger.warning("outlier detection may not eject more backends at once; leaving the backend in service",
                           metadata: ["backend": "\(backend.url.text)", "ejected": "\(limit)",
                                      "max_ejected_percent": "\(percent)", "held_since_last_report": "\(count)"])
        }
        record(Event(at: .now(), kind: .guardHeld, backendID: backend.id,
                     detail: "not ejected as an outlier: \(limit) backend(s) already are "
                         + "(max_ejected_percent=\(percent)); left in service",
                     data: EventData(cause: .outlier, threshold: limit, evidence: evidence)))
    }

    /// Traffic would have marked `backend` down, but it already marked down `limit` backends
    /// within `window`: the backend stays up and only checks may take it down.
    func guardHeld(_ backend: BackendRuntime, requestID: String, limit: Int, window: TimeAmount, evidence: [Evidence]) {
        logger.warning("traffic may not mark down more backends for now; leaving the backend to the checks",
                       metadata: ["backend": "\(backend.url.text)", "request_id": "\(requestID)",
                                  "limit": "\(limit)", "window": "\(window.humanDescription)"])
        record(Event(at: .now(), kind: .guardHeld, backendID: backend.id, requestID: requestID,
                     detail: "not marked down by traffic: \(limit) backend(s) already were within "
                         + "\(window.humanDescription); left to the checks",
                     data: EventData(cause: .traffic, threshold: limit, evidence: evidence)))
    }

    /// Why a backend's health changed, as the event log keeps it for `lbctl why`.
    struct Cause: Sendable {
        /// `check`, `traffic`, `admin` or `restore`.
        var kind: EventCause
        /// One line for the detail column ("check failed 3 time(s), fall=3: connection refused").
        var summary: String
        /// The rise or fall count in effect, for check causes.
        var threshold: Int?
        /// The observations that crossed the threshold.
        var evidence: [Evidence]
        /// For restore causes: how old the restored state was.
        var stateAgeMilliseconds: Int64?
        /// For an outlier ejection (and its restore): when it ends, and how many recent ejections it makes.
        var ejectedUntil: Timestamp? = nil
        var ejections: Int? = nil
        /// For restore causes: since when it has been down, as the change the restore carries on
        /// recorded it.
        var since: Timestamp? = nil
    }

    /// A backend's health changed. The record (with its cause and evidence) is committed before
    /// the change is logged, so the log never reports a change the database does not hold
    /// (unless the database is failing). The backend keeps the change for `/status` and the page.
    func statusChange(_ backend: BackendRuntime, from old: Health, to new: Health, cause: Cause,
                      requestID: String? = nil, at now: Timestamp = .now()) {
        backend.noteStatusChange(.init(health: new, since: cause.since ?? now, cause: cause.kind, summary: cause.summary))
        record(Event(at: now, kind: .statusChange, backendID: backend.id, requestID: requestID,
                     detail: "\(old.rawValue)->\(new.rawValue) cause=\(cause.summary)",
                     data: EventData(from: old.rawValue, to: new.rawValue, cause: cause.kind,
                                     threshold: cause.threshold, evidence: cause.evidence,
                                     stateAgeMs: cause.stateAgeMilliseconds,
                                     ejectedUntil: cause.ejectedUntil?.milliseconds, ejections: cause.ejections)))
        writer.recordHealth(backendID: backend.id, health: new, since: now)
        let logger = self.logger
        let url = backend.url.text
        writer.afterCommit { committed in
            var metadata: Logger.Metadata = ["backend": "\(url)", "from": "\(old.rawValue)", "to": "\(new.rawValue)",
                                             "cause": "\(cause.summary)"]
            if !committed { metadata["recorded"] = "false" }
            if new == .down {
                logger.warning("backend down", metadata: metadata)
            } else {
                logger.info("backend \(new.rawValue)", metadata: metadata)
            }
        }
    }

    /// Queues `event` for the writer, unless events are discarded (then it is never built).
    private func record(_ event: @autoclosure () -> Event) {
        guard !discardsEvents else { return }
        writer.record(event())
    }

    /// A health check result, for the compact history.
    func check(_ result: CheckResult) {
        writer.record(result)
    }

    /// A backend is no longer checked (removed or disabled): its run of results ends.
    func checksStopped(backendID: Int64) {
        writer.recordChecksStopped(backendID: backendID)
    }
}
