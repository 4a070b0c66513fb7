import LBStore

/// One backend's states across an audit window, built by replaying its status and admin changes
/// from the condition it was in when the window opened.
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
    /// Time inside the window the backend was registered and down.
    var downtimeMilliseconds: Int64
    /// Time inside the window the backend was registered and drained.
    var drainedMilliseconds: Int64
    var stateAtStart: LaneState
    var stateAtEnd: LaneState

    init(backend: Backend, range: TimeRange, initial: BackendCondition, changes: [Event]) {
        self.backend = backend
        self.changes = changes
        var segments: [Segment] = []
        var downtime: Int64 = 0
        var drained: Int64 = 0
        var condition = initial
        var since = range.start
        func close(at end: Timestamp) {
            guard end > since else { return }
            let span = end.milliseconds - since.milliseconds
            if condition.isDown { downtime += span }
            if condition.isDrained { drained += span }
            if let last = segments.last, last.state == condition.laneState {
                segments[segments.count - 1].range.end = end
            } else {
                segments.append(Segment(range: TimeRange(start: since, end: end), state: condition.laneState))
            }
            since = end
        }
        for event in changes {
            let at = min(max(event.at, range.start), range.end)
            close(at: at)
            condition = condition.applying(event)
        }
        close(at: range.end)
        self.segments = segments
        self.downtimeMilliseconds = downtime
        self.drainedMilliseconds = drained
        self.stateAtStart = initial.laneState
        self.stateAtEnd = condition.laneState
    }
}
