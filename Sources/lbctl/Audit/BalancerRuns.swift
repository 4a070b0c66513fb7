import LBStore

/// When a balancer (any lbserver using the database) ran, as the record tells it, for the audit's
/// "no balancer" spans.
///
/// A daemon runs from a `startup` to its `shutdown`. One that started again without a `shutdown`
/// stopped uncleanly (killed, crashed) at its last sign of life, its last event or check before
/// the new start, unless the new start took it over (a handover: then it ran until that start).
/// A daemon's latest run ends at its clean stop or its last heartbeat as its row in
/// `instances` has them, or goes on while that heartbeat is fresh. Before the first start or stop
/// recorded, nothing says whether one ran: that time is claimed neither way.
enum BalancerRuns {
    /// The spans of `window` in which no daemon ran, oldest first.
    static func stopped(in window: TimeRange, from store: Store, now: Timestamp) throws -> [TimeRange] {
        let lifecycle = try store.events(EventQuery(range: .all, kinds: [.startup, .shutdown]))
        let rows = Dictionary(try store.instances().map { ($0.identity.name, $0) }, uniquingKeysWith: { first, _ in first })
        var runs: [TimeRange] = []
        var earliest = lifecycle.first?.at
        for (instance, events) in Dictionary(grouping: lifecycle, by: \.instance) {
            var start: Timestamp?
            for event in events {
                if event.kind == .startup {
                    if let begun = start {
                        // Only a run that reaches into the window needs its end found.
                        // A start by handover (`lbserver --replace`) took over a running daemon:
                        // no gap between the two.
                        let matters = event.at > window.start && begun < window.end && event.data?.replacedPID == nil
                        let end = matters ? try store.lastActivity(of: instance, after: begun, before: event.at) ?? begun
                            : event.at
                        runs.append(TimeRange(start: begun, end: end))
                    }
                    start = event.at
                } else {
                    runs.append(TimeRange(start: start ?? TimeRange.all.start, end: event.at))
                    start = nil
                }
            }
            if let start { runs.append(TimeRange(start: start, end: latestRunEnd(instance.flatMap { rows[$0] }, from: start, now: now))) }
        }
        // A daemon whose starts and stops were all pruned still has its row.
        let named = Set(lifecycle.compactMap(\.instance))
        for row in rows.values where !named.contains(row.identity.name) {
            runs.append(TimeRange(start: row.startedAt, end: latestRunEnd(row, from: row.startedAt, now: now)))
            earliest = min(earliest ?? row.startedAt, row.startedAt)
        }
        guard let earliest, earliest < window.end else { return [] }
        return gaps(in: TimeRange(start: max(window.start, earliest), end: window.end), covered: runs)
    }

    /// True when the record says no daemon ran at `instant` (`lbctl backends --at` warns then);
    /// false when one did, or when nothing recorded says either way.
    static func noneRan(at instant: Timestamp, from store: Store, now: Timestamp) throws -> Bool {
        !(try stopped(in: TimeRange(start: instant, end: instant.adding(milliseconds: 1)), from: store, now: now)).isEmpty
    }

    /// Where a daemon's latest run, begun at `start`, ends: its clean stop, else its last heartbeat
    /// once stale, else nowhere yet (no row: a daemon from before instances, schema v8).
    private static func latestRunEnd(_ row: Instance?, from start: Timestamp, now: Timestamp) -> Timestamp {
        guard let row else { return TimeRange.all.end }
        switch row.state(at: now) {
        case .running: return TimeRange.all.end
        case .stopped: return max(start, row.stoppedAt ?? row.heartbeatAt)
        case .lost: return max(start, row.heartbeatAt)
        }
    }

    /// The parts of `window` that no range of `covered` covers, oldest first.
    static func gaps(in window: TimeRange, covered: [TimeRange]) -> [TimeRange] {
        var gaps: [TimeRange] = []
        var cursor = window.start
        for range in covered.sorted(by: { $0.start < $1.start }) where range.end > cursor {
            if range.start >= window.end { break }
            if range.start > cursor { gaps.append(TimeRange(start: cursor, end: range.start)) }
            cursor = max(cursor, range.end)
        }
        if cursor < window.end { gaps.append(TimeRange(start: cursor, end: window.end)) }
        return gaps
    }
}
