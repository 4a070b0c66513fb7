import LBStore

/// The post-incident report for one window: what each backend went through, what the operators
/// did, and what clients saw. Built from the database by `build`, printed by `AuditText`,
/// `AuditReport+JSON` and `AuditHTML`.
struct AuditReport: Sendable {
    /// How many events of the kinds that hurt clients the window holds.
    struct Counts: Equatable, Sendable {
        var failures: Int
        var retries: Int
        var attempts: Int
        /// Every answer the balancer gave itself (502, 503, 504).
        var rejected: Int
        /// The `rejected` answers whose detail starts with "503".
        var serviceUnavailable: Int
    }

    var range: TimeRange
    var generatedAt: Timestamp
    var databasePath: String
    /// One per backend that was registered at some point in the window or has events in it.
    var lanes: [BackendLane]
    var counts: Counts
    var failuresByBackend: [Int64: Int]
    var retriesByBackend: [Int64: Int]
    var firstFailure: Event?
    var lastFailure: Event?
    /// Request ids named by failures, retries and rejections.
    var requests: RequestIDSample
    /// Status changes, operator actions, restarts and recording trouble, oldest first.
    var timeline: [Event]
    /// Failures, retries and rejections per backend (nil: the balancer) in `binCount` slices.
    var bins: [EventBin]
    var binCount: Int
    /// Where the record begins, what a prune removed, and when no balancer ran.
    var coverage: AuditCoverage
    /// The spans in which backends were registered and a balancer ran but none could take a new
    /// request (each down, drained or disabled): outages, oldest first.
    var outages: [TimeRange]

    /// Kinds listed in the timeline.
    static let timelineKinds: [EventKind] = [.statusChange, .adminChange, .startup, .shutdown, .dropped, .storeError,
                                             .prune]
    /// Kinds whose request ids count as affected.
    static let affectingKinds: [EventKind] = [.failure, .retry, .rejected]

    /// Reads the report for `range`. Only reads: safe on a read-only connection while a daemon writes.
    static func build(from store: Store, range: TimeRange, now: Timestamp, sampleSize: Int = 20,
                      binCount: Int = 240) throws -> AuditReport {
        let timeline = try store.events(EventQuery(range: range, kinds: timelineKinds))
        let failuresByBackend = try store.eventCountsByBackend(kind: .failure, in: range)
        let retriesByBackend = try store.eventCountsByBackend(kind: .retry, in: range)
        var changesByBackend: [Int64: [Event]] = [:]
        for event in timeline where event.kind == .statusChange || event.kind == .adminChange {
            if let id = event.backendID { changesByBackend[id, default: []].append(event) }
        }
        let coverage = try AuditCoverage.load(from: store, range: range, now: now)
        var lanes: [BackendLane] = []
        for backend in try store.backends(includeRemoved: true) {
            let changes = changesByBackend[backend.id] ?? []
            let initial = try initialCondition(of: backend, at: range.start, changes: changes, store: store)
            let touched = !changes.isEmpty || failuresByBackend[backend.id] != nil || retriesByBackend[backend.id] != nil
            guard initial.isRegistered || touched else { continue }
            lanes.append(BackendLane(backend: backend, range: range, initial: initial, changes: changes,
                                     overlays: coverage.overlays))
        }
        let kindCounts = try store.eventCounts(in: range)
        let counts = Counts(failures: kindCounts[.failure] ?? 0, retries: kindCounts[.retry] ?? 0,
                            attempts: kindCounts[.attempt] ?? 0, rejected: kindCounts[.rejected] ?? 0,
                            serviceUnavailable: try store.countEvents(kind: .rejected, in: range, detailPrefix: "503"))
        return AuditReport(
            range: range, generatedAt: now, databasePath: store.path, lanes: lanes, counts: counts,
            failuresByBackend: failuresByBackend, retriesByBackend: retriesByBackend,
            firstFailure: try store.firstEvent(kind: .failure, in: range),
            lastFailure: try store.lastEvent(kind: .failure, in: range),
            requests: try store.requestIDs(in: range, kinds: affectingKinds, sampleSize: sampleSize),
            timeline: timeline,
            bins: try store.eventHistogram(kinds: affectingKinds, in: range, binCount: binCount),
            binCount: binCount, coverage: coverage, outages: outages(of: lanes))
    }

    /// Each registered backend's lane state at `instant`, in lane order: what an outage was made of.
    func registeredStates(at instant: Timestamp) -> [(url: String, state: LaneState)] {
        lanes.compactMap { lane in
            guard let segment = lane.segments.first(where: { $0.range.start <= instant && instant < $0.range.end }),
                  segment.state != .notRegistered
            else { return nil }
            return (lane.backend.url, segment.state)
        }
    }

    /// What the report says about the record itself before anything else: the window starts before
    /// the oldest record, or a prune deleted part of it. One sentence each.
    func coverageNotes(times: TimeDisplay) -> [String] {
        var notes: [String] = []
        if let noRecord = coverage.noRecord {
            if let first = coverage.firstRecord {
                notes.append("the window starts before the oldest record (\(times.seconds(first))): nothing is known "
                             + "of its first \(TimeText.duration(milliseconds: noRecord.durationMilliseconds))")
            } else {
                notes.append("the database holds no record: nothing is known of this window")
            }
        }
        if let cutoff = coverage.prunedBefore, cutoff > range.start, let marker = coverage.prune {
            let data = marker.data
            notes.append("records before \(times.seconds(cutoff)) were pruned at \(times.seconds(marker.at))"
                         + (data?.actor.map { " by \($0)" } ?? "")
                         + " (\(data?.events ?? 0) events, \(data?.healthRuns ?? 0) health runs deleted)")
        }
        return notes
    }

    /// The spans in which at least one lane is registered, none is in a span the record cannot
    /// speak for (no record, no balancer), and none takes traffic, merged, oldest first.
    static func outages(of lanes: [BackendLane]) -> [TimeRange] {
        let boundaries = Set(lanes.flatMap { $0.segments.flatMap { [$0.range.start, $0.range.end] } }).sorted()
        var cursors = Array(repeating: 0, count: lanes.count)
        var outages: [TimeRange] = []
        for (start, end) in zip(boundaries, boundaries.dropFirst()) {
            // Each lane's segment holding [start, end): segments are in order, so a cursor moves forward only.
            let states = lanes.indices.compactMap { index -> LaneState? in
                let segments = lanes[index].segments
                while cursors[index] < segments.count && segments[cursors[index]].range.end <= start { cursors[index] += 1 }
                return cursors[index] < segments.count ? segments[cursors[index]].state : nil
            }
            let registered = states.contains { $0 != .notRegistered }
            let unknowable = states.contains { $0 == .noRecord || $0 == .noBalancer }
            guard registered, !unknowable, !states.contains(where: \.takesTraffic) else { continue }
            if let last = outages.last, last.end == start {
                outages[outages.count - 1].end = end
            } else {
                outages.append(TimeRange(start: start, end: end))
            }
        }
        return outages
    }

    /// Where a backend stood when the window opened, from the last changes before it, else from
    /// what the first changes inside it say they changed from, else from the registry row.
    static func initialCondition(of backend: Backend, at start: Timestamp, changes: [Event],
                                 store: Store) throws -> BackendCondition {
        let lastStatus = try store.latestEvent(kind: .statusChange, backendID: backend.id, before: start)
        let lastAdmin = try store.latestEvent(kind: .adminChange, backendID: backend.id, before: start)
        let lastAdminChange = ChangeDetail.adminChange(lastAdmin?.detail)

        let isRegistered: Bool
        if lastAdmin != nil {
            isRegistered = lastAdminChange != .removed
        } else {
            // No recorded change (or pruned): the registry row's dates decide.
            isRegistered = backend.addedAt <= start && (backend.removedAt.map { $0 > start } ?? true)
        }

        // The latest of: a status change, a re-add (which resets health), the registry's own
        // "health since" (written by the daemon with or without an event).
        var known: [(at: Timestamp, health: Health)] = []
        if let lastStatus, let target = ChangeDetail.healthTransition(lastStatus.detail).to {
            known.append((lastStatus.at, target))
        }
        if let lastAdmin, lastAdminChange == .added { known.append((lastAdmin.at, .unknown)) }
        if backend.healthSince <= start { known.append((backend.healthSince, backend.health)) }
        let health: Health
        if let latest = known.max(by: { $0.at < $1.at }) {
            health = latest.health
        } else if let firstInside = changes.first(where: { $0.kind == .statusChange }),
                  let from = ChangeDetail.healthTransition(firstInside.detail).from {
            health = from
        } else {
            health = .unknown
        }

        var adminState = backend.adminState
        let firstStateChange = changes.lazy.compactMap { event -> AdminState?? in
            if case .state(let from, _) = ChangeDetail.adminChange(event.detail) { return .some(from) }
            return nil
        }.first
        if let firstStateChange, let from = firstStateChange {
            adminState = from
        } else if case .state(_, let to) = lastAdminChange {
            adminState = to
        } else if lastAdminChange == .added {
            adminState = .enabled
        }
        return BackendCondition(isRegistered: isRegistered, health: health, adminState: adminState)
    }
}
