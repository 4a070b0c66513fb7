import LBStore

/// What the record can say about an audit window: where it begins (nothing is known before the
/// oldest event; a prune says what it deleted) and when no balancer ran. Lanes show these spans
/// in states of their own and count them neither as downtime nor as drained time.
struct AuditCoverage: Sendable {
    /// The oldest event in the database, nil when it holds none.
    var firstRecord: Timestamp?
    /// The `prune` marker with the latest cutoff: records before it are gone.
    var prune: Event?
    /// The part of the window before the first record (all of it for an empty log).
    var noRecord: TimeRange?
    /// The spans of the window in which no lbserver ran (`BalancerRuns`), after the first record.
    var noBalancer: [TimeRange]

    /// The cutoff of the latest prune, if any.
    var prunedBefore: Timestamp? { prune?.data?.cutoff.map(Timestamp.init(milliseconds:)) }

    /// The spans lanes show in a state of their own, oldest first and not overlapping.
    var overlays: [(range: TimeRange, state: LaneState)] {
        (noRecord.map { [($0, LaneState.noRecord)] } ?? []) + noBalancer.map { ($0, LaneState.noBalancer) }
    }

    static func load(from store: Store, range: TimeRange, now: Timestamp) throws -> AuditCoverage {
        let firstRecord = try store.firstEventTime()
        let prune = try store.events(EventQuery(range: .all, kinds: [.prune]))
            .max { ($0.data?.cutoff ?? .min) < ($1.data?.cutoff ?? .min) }
        let recorded = firstRecord.map { max($0, range.start) } ?? range.end
        let noRecord = recorded > range.start ? TimeRange(start: range.start, end: min(recorded, range.end)) : nil
        let noBalancer = recorded < range.end
            ? try BalancerRuns.stopped(in: TimeRange(start: recorded, end: range.end), from: store, now: now) : []
        return AuditCoverage(firstRecord: firstRecord, prune: prune, noRecord: noRecord, noBalancer: noBalancer)
    }
}
