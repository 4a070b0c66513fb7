import LBStore
import NIOCore

/// Checks every backend that is not disabled, on its own schedule: every `interval` while up,
/// every `downInterval` while down, right away when it joins. Applies the rise and fall
/// thresholds and reports each crossing as a status change.
///
/// Runs on one event loop; all of its state is touched only there.
final class HealthChecker: Sendable {
    private let eventLoop: EventLoop
    private let sink: EventSink
    private let state: NIOLoopBoundBox<State>

    private final class State {
        var entries: [Int64: Entry] = [:]
        var stopped = false
        /// Replaced by a reload (`update`).
        var settings: HealthSettings
        init(settings: HealthSettings) { self.settings = settings }
    }

    /// The settings; read on the checker's loop.
    private var settings: HealthSettings { state.value.settings }

    private final class Entry {
        let backend: BackendRuntime
        var passes = 0
        var failures = 0
        /// The latest results, newest last, as many as the larger threshold: the evidence of a
        /// status change.
        var recent: [Evidence] = []
        var scheduled: Scheduled<Void>?
        /// When `scheduled` runs.
        var due = NIODeadline.distantFuture
        var running = false
        init(backend: BackendRuntime) { self.backend = backend }
    }

    /// TLS for `https://` backends.
    private let backendTLS: BackendTLS?

    init(eventLoop: EventLoop, settings: HealthSettings, sink: EventSink, backendTLS: BackendTLS? = nil) {
        self.backendTLS = backendTLS
        self.eventLoop = eventLoop
        self.sink = sink
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(settings: settings), eventLoop: eventLoop)
    }

    /// Checks by `settings` from now on (a reload's): a check due later than the new interval
    /// (or down interval) from now is brought forward to it, so a shorter interval counts at
    /// once; counts of passes and failures carry over to the new thresholds. The future completes
    /// once they apply.
    func update(_ settings: HealthSettings) -> EventLoopFuture<Void> {
        eventLoop.submit { [self] in
            let state = self.state.value
            state.settings = settings
            guard !state.stopped else { return }
            let now = NIODeadline.now()
            for entry in state.entries.values where !entry.running {
                let latest = now + (entry.backend.isAlive ? settings.interval : settings.downInterval)
                if entry.due > latest { schedule(entry, at: latest) }
            }
        }
    }

    /// The next check of `entry`, at `due` (on the checker's loop).
    private func schedule(_ entry: Entry, at due: NIODeadline) {
        entry.scheduled?.cancel()
        entry.due = due
        entry.scheduled = eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in check(entry) }
    }

    /// Makes the checked set equal to `backends` (disabled ones are not checked); new backends
    /// are checked at once, all concurrently.
    func track(_ backends: [BackendRuntime]) {
        eventLoop.execute { [self] in
            let state = self.state.value
            guard !state.stopped else { return }
            let wanted = backends.filter(\.isChecked)
            let wantedIDs = Set(wanted.map(\.id))
            for (id, entry) in state.entries where !wantedIDs.contains(id) {
                entry.scheduled?.cancel()
                state.entries[id] = nil
                // Its run of results ends here: history never claims checks not made.
                sink.checksStopped(backendID: id)
            }
            for backend in wanted where state.entries[backend.id] == nil {
                let entry = Entry(backend: backend)
                state.entries[backend.id] = entry
                check(entry)
            }
        }
    }

    /// Moves the next check of a backend that traffic just marked down to `downInterval` from
    /// now, so it returns as soon as it answers again.
    func probeSoon(_ backend: BackendRuntime) {
        eventLoop.execute { [self] in
            let state = self.state.value
            guard !state.stopped, let entry = state.entries[backend.id], !entry.running else { return }
            entry.passes = 0
            schedule(entry, at: .now() + state.settings.downInterval)
        }
    }

    /// Checks every backend that is not disabled once, all at once, and sets each one's health to
    /// its result (no rise or fall count: this is the round that decides after a stale restart).
    /// Returns when the round is over, at most the check timeout later.
    func checkAllOnce(_ backends: [BackendRuntime]) async {
        let checked = backends.filter(\.isChecked)
        // On the checker's loop, where its settings are read; one future awaited for the round.
        let round = eventLoop.flatSubmit { [self] in
            let settings = self.settings
            return EventLoopFuture.andAllComplete(checked.map { checkOnce($0, settings: settings) }, on: eventLoop)
        }
        _ = try? await round.get()
    }

    /// One check of the stale-state round: its result sets the backend's health at once.
    private func checkOnce(_ backend: BackendRuntime, settings: HealthSettings) -> EventLoopFuture<Void> {
        HealthProbe.run(settings.probe, against: backend, timeout: settings.timeout, tls: backendTLS, on: eventLoop)
            .map { [sink] outcome in
                let now = Timestamp.now()
                sink.check(CheckResult(backendID: backend.id, at: now, passed: outcome.passed,
                                       latencyMilliseconds: outcome.latencyMilliseconds, error: outcome.error))
                backend.recentChecks.append(.init(at: now, passed: outcome.passed,
                                                  latencyMilliseconds: outcome.latencyMilliseconds,
                                                  error: outcome.error))
                let health: Health = outcome.passed ? .up : .down
                if let previous = backend.transition(to: health) {
                    sink.statusChange(backend, from: previous, to: health, cause: EventSink.Cause(
                        kind: .check,
                        summary: "startup check round on stale state: \(outcome.passed ? "passed" : "failed: \(outcome.error ?? "")")",
                        threshold: 1,
                        evidence: [Evidence(at: now, source: .check, error: outcome.error,
                                            latencyMs: (outcome.latencyMilliseconds * 1000).rounded() / 1000)]), at: now)
                }
            }
    }

    /// Stops all checks; results still in flight are dropped.
    func stop() async {
        try? await eventLoop.submit { [self] in
            let state = self.state.value
            state.stopped = true
            for entry in state.entries.values { entry.scheduled?.cancel() }
            state.entries.removeAll()
        }.get()
    }

    private func check(_ entry: Entry) {
        guard !entry.running else { return }
        entry.running = true
        let backend = entry.backend
        HealthProbe.run(settings.probe, against: backend, timeout: settings.timeout, tls: backendTLS, on: eventLoop)
            .assumeIsolated().whenSuccess { [self] outcome in
                entry.running = false
                let state = self.state.value
                guard !state.stopped, state.entries[backend.id] === entry else { return }
                record(outcome, for: entry)
                let delay = backend.isAlive ? state.settings.interval : state.settings.downInterval
                schedule(entry, at: .now() + delay)
            }
    }

    private func record(_ outcome: HealthProbe.Outcome, for entry: Entry) {
        let backend = entry.backend
        let now = Timestamp.now()
        sink.check(CheckResult(backendID: backend.id, at: now, passed: outcome.passed,
                               latencyMilliseconds: outcome.latencyMilliseconds, error: outcome.error))
        backend.recentChecks.append(.init(at: now, passed: outcome.passed, latencyMilliseconds: outcome.latencyMilliseconds,
                                          error: outcome.passed ? nil : outcome.error))
        entry.recent.append(Evidence(at: now, source: .check, error: outcome.passed ? nil : outcome.error,
                                     latencyMs: (outcome.latencyMilliseconds * 1000).rounded() / 1000))
        // A loop: a reload may have lowered the thresholds.
        while entry.recent.count > max(settings.rise, settings.fall) { entry.recent.removeFirst() }
        if outcome.passed {
            entry.passes += 1
            entry.failures = 0
            // A backend of unknown health becomes up on its first pass; a down one needs `rise`.
            let needed = backend.currentHealth == .down ? settings.rise : 1
            // An ejected outlier stays out until its ejection ends, whatever the checks say.
            if backend.currentHealth != .up, entry.passes >= needed, !backend.isEjected(),
               let previous = backend.transition(to: .up) {
                sink.statusChange(backend, from: previous, to: .up, cause: EventSink.Cause(
                    kind: .check, summary: "check passed \(entry.passes) time(s), rise=\(settings.rise)",
                    threshold: settings.rise, evidence: Array(entry.recent.suffix(entry.passes))), at: now)
            }
        } else {
            entry.failures += 1
            entry.passes = 0
            let needed = backend.currentHealth == .unknown ? 1 : settings.fall
            if backend.currentHealth != .down, entry.failures >= needed, let previous = backend.transition(to: .down) {
                sink.statusChange(backend, from: previous, to: .down, cause: EventSink.Cause(
                    kind: .check,
                    summary: "check failed \(entry.failures) time(s), fall=\(settings.fall): \(outcome.error ?? "")",
                    threshold: settings.fall, evidence: Array(entry.recent.suffix(entry.failures))), at: now)
            }
        }
    }
}
