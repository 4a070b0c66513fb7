import LBStore

/// One backend's states across an audit window, built by replaying its status and admin changes
/// from the condition it was in when the window opened, with the spans the record cannot speak
/// for (no record, no balancer: `AuditCoverage.overlays`) laid over them.
struct BackendLane: Sendable {
    /// A span of the window during which the lane shows one state.
    struct Segment: Equatable, Sendable {
        var range: TimeRange
        var state: LaneState
    }

    var backend: Backend
    /// Consecutive, non-overlapping, covering the window; neighbours differ in state.
    var segments: [Segment]
    /// The backend's status and admin changes inside the window, oldest first.
    var changes: [Event]
    /// Time inside the window the backend was registered and down while a balancer ran.
    var downtimeMilliseconds: Int64
    /// Time inside the window the backend was registered and drained while a balancer ran.
    var drainedMilliseconds: Int64
    var stateAtStart: LaneState
    var stateAtEnd: LaneState

    init(backend: Backend, range: TimeRange, initial: BackendCondition, changes: [Event],
         overlays: [(range: TimeRange, state: LaneState)] = []) {
        self.backend = backend
        self.changes = changes
        var segments: [Segment] = []
        var downtime: Int64 = 0
        var drained: Int64 = 0
        func append(_ span: TimeRange, _ state: LaneState) {
            guard span.end > span.start else { return }
            if let last = segments.last, last.state == state {
                segments[segments.count - 1].range.end = span.end
            } else {
                segments.append(Segment(range: span, state: state))
            }
        }
        // One span of one condition, cut where the overlays begin and end.
        func close(_ span: TimeRange, _ condition: BackendCondition) {
            var cursor = span.start
            for overlay in overlays where overlay.range.end > cursor && overlay.range.start < span.end {
                let before = TimeRange(start: cursor, end: max(cursor, overlay.range.start))
                let covered = TimeRange(start: before.end, end: min(span.end, overlay.range.end))
                count(before, condition)
                append(before, condition.laneState)
                // Unregistered stays so while no balancer runs; before the record nothing is known.
                append(covered, overlay.state == .noBalancer && !condition.isRegistered ? .notRegistered : overlay.state)
                cursor = covered.end
            }
            let rest = TimeRange(start: cursor, end: span.end)
            count(rest, condition)
            append(rest, condition.laneState)
        }
        func count(_ span: TimeRange, _ condition: BackendCondition) {
            if condition.isDown { downtime += span.durationMilliseconds }
            if condition.isDrained { drained += span.durationMilliseconds }
        }
        var condition = initial
        var since = range.start
        for event in changes {
            let at = min(max(event.at, range.start), range.end)
            close(TimeRange(start: since, end: at), condition)
            since = max(since, at)
            condition = condition.applying(event)
        }
        close(TimeRange(start: since, end: range.end), condition)
        self.segments = segments
        self.downtimeMilliseconds = downtime
        self.drainedMilliseconds = drained
        self.stateAtStart = segments.first?.state ?? initial.laneState
        self.stateAtEnd = segments.last?.state ?? condition.laneState
    }
}
