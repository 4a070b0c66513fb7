import LBStore

/// The answer of `lbctl why URL [--at T]`: the down, drained or disabled period in effect at T (by
/// default the one in effect now, else the one that began last), what began it and what ended it.
/// Printed by `WhyFormatter`.
struct WhyReport: Sendable {
    var url: String
    /// The instant asked about: `--at`, else now.
    var instant: Timestamp
    /// Whether `--at` was given.
    var instantWasAsked: Bool
    var period: OutagePeriod?
    /// The change that began the period, explained.
    var cause: ChangeExplanation?
    /// The change that ended it, explained; nil while it lasts.
    var ending: ChangeExplanation?
    /// The backend's state at the instant as `lbctl audit` names it (`up`, `down`, `drained`,
    /// `disabled`, `unknown`, `not_registered`).
    var stateAtInstant: LaneState
    /// Whether the log holds any down, drained or disabled period of the backend.
    var wasEverOut: Bool
    /// The latest times traffic was kept from marking the backend down up to the instant, newest
    /// first: the guard on traffic mark-downs held (`guard_held`), or a request that failed the
    /// same way here as on another backend was blamed instead (`suspect_request`).
    var heldBack: [Event]
    /// In a fleet (more than one daemon running at the instant): each one's view then.
    var views: [InstanceView] = []

    /// How many held-back events the report shows at most.
    static let heldBackLimit = 5

    /// Reads the report from the log. `instant` nil means now and falls back to the latest period.
    static func build(for backend: Backend, at instant: Timestamp?, now: Timestamp, firstRecord: Timestamp?,
                      from store: Store) throws -> WhyReport {
        let when = instant ?? now
        let past = try firstRecord.flatMap { first in
            try PastBackendState.load(backend, at: max(when, first), firstRecord: first, from: store)
        }
        let running = try store.instancesRunning(at: .end(of: when))
        let views = running.count > 1 ? try past?.views(of: running, from: store) ?? [] : []
        var period = try past.flatMap { try OutagePeriod.inEffect($0, views: views, store: store) }
        var wasEverOut = period != nil
        if period == nil {
            let latest = try OutagePeriod.latest(backendID: backend.id, store: store)
            wasEverOut = latest != nil
            if instant == nil { period = latest }
        }
        let condition = past.map {
            BackendCondition(isRegistered: $0.isRegistered, health: $0.health, adminState: $0.adminState)
        } ?? BackendCondition(isRegistered: false, health: .unknown, adminState: .enabled)
        return WhyReport(
            url: backend.url, instant: when, instantWasAsked: instant != nil, period: period,
            cause: try period.map { try ChangeExplanation($0.start, store: store) },
            ending: try period?.end.map { try ChangeExplanation($0, store: store) },
            stateAtInstant: condition.laneState, wasEverOut: wasEverOut,
            heldBack: try heldBack(backendID: backend.id, until: when, from: store), views: views)
    }

    /// The newest `guard_held` and `suspect_request` events of a backend up to `instant`.
    private static func heldBack(backendID: Int64, until instant: Timestamp, from store: Store) throws -> [Event] {
        let position = EventPosition.end(of: instant)
        let events = try [EventKind.guardHeld, .suspectRequest].flatMap {
            try store.backendEvents(backendID, kind: $0, before: position, limit: heldBackLimit)
        }
        return Array(events.sorted { EventPosition(of: $0) > EventPosition(of: $1) }.prefix(heldBackLimit))
    }
}
