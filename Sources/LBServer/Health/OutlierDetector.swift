import LBStore
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Passive outlier detection, as Envoy's consecutive-failure detector and HAProxy's
/// `observe layer7` do it: what the proxy's own tries say about a backend, beside the checks.
///
/// A backend that accepts connections but hangs, answers garbage or (opted in) answers 5xx passes
/// a TCP check, so the checks keep bringing it back. Here each failed try (refused, reset, timed
/// out, an invalid answer, a 5xx with `countsServerErrors`) adds to the backend's failures in a
/// row, and any other answer ends them. `consecutiveFailures` of them in a row, each within
/// `window` of the one before, eject the backend: it goes down with cause `outlier` and no check
/// brings it up before the ejection ends. The n-th recent ejection lasts n base ejections, up to
/// the maximum; a backend that goes a maximum ejection's length without one has one fewer.
/// At most `maxEjectedPercent` of the enabled backends are out at once, counting those traffic
/// marked down lately (`TrafficMarkDownGuard`, which counts the ejected ones in turn): past that
/// the backend stays in service and the guard's holding is recorded.
///
/// When an ejection ends the backend comes back up at once, unless the checks found it failing
/// meanwhile (then they decide, as for any down backend).
///
/// Safe from any event loop. Every answer reads one atomic of its backend; the lock is taken
/// only when a try failed or a run of failures ended, never per request otherwise.
final class OutlierDetector: Sendable {
    /// `settings.countsServerErrors`, read for every 5xx answer without the lock.
    private let countsServerErrors: Synchronization.Atomic<Bool>
    private let sink: EventSink
    /// Where ejections end.
    private let eventLoop: EventLoop
    /// How many backends are enabled now (the base of the ejection cap).
    private let enabledBackends: @Sendable () -> Int
    /// Whether a backend is still in the registry and not disabled when its ejection ends.
    private let isInService: @Sendable (BackendRuntime) -> Bool
    /// Traffic's own mark-downs: the backends it took out lately count against the same cap, so
    /// the two together never take out more than their share.
    private let trafficMarkDowns: TrafficMarkDownGuard?
    private let state: NIOLockedValueBox<State>

    private struct State {
        var records: [Int64: Record] = [:]
        var settings: OutlierSettings
        /// Failed tries in a row that eject.
        var threshold: Int { max(1, settings.consecutiveFailures ?? 1) }
    }

    private struct Record {
        /// The failures in a row, oldest first, as many as the threshold: the ejection's evidence.
        var evidence: [Evidence] = []
        var count = 0
        var lastFailure: NIODeadline?
        /// Recent ejections: the next one lasts one base ejection more.
        var ejections = 0
        var lastEjectionEnded: NIODeadline?
        /// The current ejection's end; nil when not ejected.
        var ejectedUntil: NIODeadline?
    }

    init(settings: OutlierSettings, sink: EventSink, eventLoop: EventLoop,
         enabledBackends: @escaping @Sendable () -> Int,
         isInService: @escaping @Sendable (BackendRuntime) -> Bool, trafficMarkDowns: TrafficMarkDownGuard? = nil) {
        self.trafficMarkDowns = trafficMarkDowns
        state = NIOLockedValueBox(State(settings: settings))
        countsServerErrors = Synchronization.Atomic(settings.countsServerErrors)
        self.sink = sink
        self.eventLoop = eventLoop
        self.enabledBackends = enabledBackends
        self.isInService = isInService
    }

    /// Judges by `settings` from the next failure on (a reload's). Runs of failures and
    /// ejections carry over; an ejection keeps the length it was given.
    func update(_ settings: OutlierSettings) {
        state.withLockedValue { $0.settings = settings }
        countsServerErrors.store(settings.countsServerErrors, ordering: .relaxed)
    }

    /// Ends every ejection now (outlier detection was turned off by a reload): each of `backends`
    /// that is ejected comes back as when its ejection ends, unless the checks found it failing.
    func endAllEjections(of backends: [BackendRuntime]) {
        for backend in backends {
            guard let until = backend.ejectedUntil else { continue }
            endEjection(of: backend, endingAt: until, why: "outlier detection turned off")
        }
        state.withLockedValue { state in
            for id in state.records.keys {
                state.records[id]?.count = 0
                state.records[id]?.evidence.removeAll()
            }
        }
        for backend in backends { backend.failuresInARow.store(0, ordering: .relaxed) }
    }

    /// The most backends ejected at once with `enabled` enabled.
    static func limit(enabledBackends enabled: Int, percent: Int) -> Int { enabled * percent / 100 }

    /// The backend answered with `status`: a 5xx counts as a failure when so configured, any
    /// other answer ends the backend's failures in a row.
    func answered(_ backend: BackendRuntime, status: Int, requestID: String, attempt: Int) {
        if status >= 500 && countsServerErrors.load(ordering: .relaxed) {
            tryFailed(backend, evidence: Evidence(at: .now(), source: .request, requestID: requestID, attempt: attempt,
                                                  error: "answered \(status)"))
            return
        }
        guard backend.failuresInARow.load(ordering: .relaxed) != 0 else { return }
        state.withLockedValue { state in
            state.records[backend.id]?.count = 0
            state.records[backend.id]?.evidence.removeAll()
            backend.failuresInARow.store(0, ordering: .relaxed)
        }
    }

    private enum Outcome {
        case counted
        case held(limit: Int, evidence: [Evidence])
        case eject(until: NIODeadline, ejections: Int, evidence: [Evidence])
    }

    /// A try on `backend` failed (`evidence` is its record); returns whether that ejected it.
    @discardableResult
    func tryFailed(_ backend: BackendRuntime, evidence: Evidence, now: NIODeadline = .now()) -> Bool {
        let (outcome, settings, threshold) = state.withLockedValue { state -> (Outcome, OutlierSettings, Int) in
            let settings = state.settings
            let threshold = state.threshold
            var record = state.records[backend.id] ?? Record()
            defer {
                state.records[backend.id] = record
                backend.failuresInARow.store(record.count, ordering: .relaxed)
            }
            if let last = record.lastFailure, now - last > settings.window {
                record.count = 0
                record.evidence.removeAll()
            }
            record.count += 1
            record.lastFailure = now
            record.evidence.append(evidence)
            while record.evidence.count > threshold { record.evidence.removeFirst() }
            // A backend already out of service takes no traffic to judge; its run goes on, and
            // the failure after it is back ejects it.
            guard record.count >= threshold, backend.isAlive, !backend.isEjected(at: now) else { return (.counted, settings, threshold) }
            // Only here, at the threshold, not for every failure of a storm. (The traffic guard's
            // lock is taken inside this one; it never takes this one inside its own.)
            let limit = Self.limit(enabledBackends: enabledBackends(), percent: settings.maxEjectedPercent)
            // Out already: the ejected ones and those traffic marked down lately, this one aside.
            var out = trafficMarkDowns?.recentlyMarkedDown(now: now) ?? []
            for (id, other) in state.records where other.ejectedUntil.map({ $0 > now }) == true { out.insert(id) }
            out.remove(backend.id)
            let ejected = out.count
            let evidence = record.evidence
            record.count = 0
            record.evidence.removeAll()
            guard ejected < limit else { return (.held(limit: limit, evidence: evidence), settings, threshold) }
            if let ended = record.lastEjectionEnded {
                let quiet = Int((now - ended).nanoseconds / max(1, settings.maxEjection.nanoseconds))
                record.ejections = max(0, record.ejections - quiet)
            }
            record.ejections += 1
            let length = min(settings.baseEjection.nanoseconds * Int64(record.ejections), settings.maxEjection.nanoseconds)
            let until = now + .nanoseconds(length)
            record.ejectedUntil = until
            return (.eject(until: until, ejections: record.ejections, evidence: evidence), settings, threshold)
        }
        switch outcome {
        case .counted:
            return false
        case .held(let limit, let evidence):
            sink.ejectionHeld(backend, limit: limit, percent: settings.maxEjectedPercent, evidence: evidence)
            return false
        case .eject(let until, let ejections, let evidence):
            backend.setEjection(until: until)
            guard let previous = backend.transition(to: .down) else {
                // Taken down meanwhile by a check or by traffic: theirs to report and to end.
                backend.setEjection(until: nil)
                state.withLockedValue { state in
                    state.records[backend.id]?.ejectedUntil = nil
                    state.records[backend.id]?.ejections -= 1
                }
                return false
            }
            let length = until - now
            let wallUntil = Timestamp(milliseconds: Timestamp.now().milliseconds + length.nanoseconds / 1_000_000)
            sink.metrics.countEjection()
            sink.statusChange(backend, from: previous, to: .down, cause: EventSink.Cause(
                kind: .outlier,
                summary: "outlier: \(evidence.count) failed tries in a row (\(Self.summary(of: evidence))); "
                    + "ejected for \(length.humanDescription), ejection \(ejections) in a row",
                threshold: threshold, evidence: evidence, ejectedUntil: wallUntil, ejections: ejections))
            scheduleEnd(of: backend, at: until)
            return true
        }
    }

    /// The backends ejected now.
    func ejectedBackends(now: NIODeadline = .now()) -> Set<Int64> {
        state.withLockedValue { state in
            Set(state.records.compactMap { id, record in record.ejectedUntil.map { $0 > now } == true ? id : nil })
        }
    }

    /// Takes up an ejection recorded before a restart: `backend` (restored down) stays out until
    /// `until`, and its next ejection counts this one.
    func restore(_ backend: BackendRuntime, ejectedUntil until: NIODeadline, ejections: Int) {
        backend.setEjection(until: until)
        state.withLockedValue { state in
            var record = state.records[backend.id] ?? Record()
            record.ejections = max(record.ejections, ejections)
            record.ejectedUntil = until
            state.records[backend.id] = record
        }
        scheduleEnd(of: backend, at: until)
    }

    private func scheduleEnd(of backend: BackendRuntime, at until: NIODeadline) {
        eventLoop.scheduleTask(deadline: until) { [self] in endEjection(of: backend, endingAt: until, why: nil) }
    }

    /// The ejection that was to end at `until` is over: the backend is back up, unless the checks
    /// found it failing meanwhile, it left service, or it was ejected anew. `why`: why it ends
    /// before its time.
    private func endEjection(of backend: BackendRuntime, endingAt until: NIODeadline, why: String?) {
        guard backend.ejectedUntil == until else { return }
        backend.setEjection(until: nil)
        let ejections = state.withLockedValue { state -> Int in
            state.records[backend.id]?.ejectedUntil = nil
            state.records[backend.id]?.lastEjectionEnded = .now()
            return state.records[backend.id]?.ejections ?? 0
        }
        guard isInService(backend), backend.currentHealth == .down else { return }
        let latest = backend.recentChecks.checks.last
        if let latest, !latest.passed { return }
        guard let previous = backend.transition(to: .up) else { return }
        let evidence = latest.map { check in
            [Evidence(at: check.at, source: .check, latencyMs: (check.latencyMilliseconds * 1000).rounded() / 1000)]
        } ?? []
        sink.statusChange(backend, from: previous, to: .up, cause: EventSink.Cause(
            kind: .outlier,
            summary: "outlier: ejection \(ejections) over" + (why.map { " (\($0))" } ?? "")
                + (latest == nil ? "" : ", the latest check passed"),
            threshold: nil, evidence: evidence))
    }

    /// "timeout ×3, reset" for the evidence of an ejection.
    static func summary(of evidence: [Evidence]) -> String {
        var counts: [(String, Int)] = []
        for item in evidence {
            let error = item.error ?? "failed"
            if let index = counts.firstIndex(where: { $0.0 == error }) {
                counts[index].1 += 1
            } else {
                counts.append((error, 1))
            }
        }
        return counts.map { $0.1 == 1 ? $0.0 : "\($0.0) ×\($0.1)" }.joined(separator: ", ")
    }
}
