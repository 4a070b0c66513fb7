import LBStore

/// A stretch in which a backend was down, drained or disabled: from the change that began it to
/// the change that ended it, if one has.
///
/// A down period begins with a status change to `down` and ends with the backend's next status
/// change (whatever it led to: a restart that restores `down` begins a new, restore-caused
/// period) or its removal. A drained or disabled period begins with the admin change that set the
/// state (an operator's, or the add of a backend the configuration declares so) and ends with the
/// next admin-state change or the removal. Periods of one kind never overlap; a down period and an
/// admin period may.
struct OutagePeriod: Sendable {
    /// What the backend was.
    enum State: String, Sendable {
        case down
        case drained
        case disabled
    }

    var state: State
    var start: RecordedChange
    var end: RecordedChange?

    /// Status changes or admin changes read per query while walking back for the latest period.
    static let pageSize = 32

    /// The period in effect in `past`, when it shows one: disabled first (a disabled backend is not
    /// checked, so its health is stale), then down, then drained, as `lbctl audit` colours lanes.
    ///
    /// In a fleet (`views` of the instances running then) a backend is down while any instance
    /// saw it down: the period is that instance's (the one down longest), from its status change
    /// to its next one.
    static func inEffect(_ past: PastBackendState, views: [InstanceView] = [], store: Store) throws -> OutagePeriod? {
        guard past.isRegistered else { return nil }
        var candidates: [(State, RecordedChange)] = []
        if let change = past.adminChange, past.adminState == .disabled { candidates.append((.disabled, change)) }
        if let change = past.healthChange, past.health == .down, views.isEmpty {
            candidates.append((.down, change))
        } else if let change = views.filter({ $0.health == .down }).compactMap(\.change).min(by: { $0.position < $1.position }) {
            candidates.append((.down, change))
        }
        if let change = past.adminChange, past.adminState == .drained { candidates.append((.drained, change)) }
        guard let (state, start) = candidates.first else { return nil }
        return OutagePeriod(state: state, start: start, end: try end(of: state, startedBy: start, store: store))
    }

    /// The period of `backendID` that began last, or nil when it was never down, drained or disabled.
    static func latest(backendID: Int64, store: Store) throws -> OutagePeriod? {
        typealias Name = RecordedChange.ActionName
        let down = try latestStart(state: { $0.healthAfter == .down ? .down : nil }) { position in
            try store.backendEvents(backendID, kind: .statusChange, before: position, limit: pageSize)
        }
        // An admin state is set by an operator's change, or by the add of a backend the
        // configuration declares drained or disabled.
        let admin = try [Name.adminState, Name.add].compactMap { action in
            try latestStart(state: { change in
                switch change.adminStateAfter {
                case .drained?: return .drained
                case .disabled?: return .disabled
                default: return nil
                }
            }) { position in try store.adminChanges(backendID, action: action, before: position, limit: pageSize) }
        }
        let starts = ([down] + admin).compactMap { $0 }
        guard let (state, start) = starts.max(by: { $0.1.position < $1.1.position }) else { return nil }
        return OutagePeriod(state: state, start: start, end: try end(of: state, startedBy: start, store: store))
    }

    /// The newest change for which `state` names a period, reading back a page at a time.
    private static func latestStart(state: (RecordedChange) -> State?,
                                    page read: (EventPosition) throws -> [Event]) throws -> (State, RecordedChange)? {
        var position = EventPosition(at: Timestamp(milliseconds: Int64.max), id: Int64.max)
        while true {
            let page = try read(position).map(RecordedChange.init)
            for change in page {
                if let found = state(change) { return (found, change) }
            }
            guard page.count == pageSize, let last = page.last else { return nil }
            position = last.position
        }
    }

    /// The change that ended a period of `state` begun by `start`, or nil while it lasts.
    static func end(of state: State, startedBy start: RecordedChange, store: Store) throws -> RecordedChange? {
        let backendID = start.event.backendID ?? 0
        let next: RecordedChange?
        switch state {
        case .down:
            // In a fleet (more than one daemon running when it began) each instance's view is its
            // own: the period ends with the next change the same instance recorded.
            let fleet = try start.event.instance.flatMap { instance in
                try store.instancesRunning(at: start.position).count > 1 ? instance : nil
            }
            let changes = try fleet.map { instance in
                try store.backendEvents(backendID, kind: .statusChange, instance: instance, after: start.position, limit: 1)
            } ?? store.backendEvents(backendID, kind: .statusChange, after: start.position, limit: 1)
            next = changes.first.map(RecordedChange.init)
        case .drained, .disabled:
            next = try store.adminChanges(backendID, action: RecordedChange.ActionName.adminState, after: start.position,
                                          limit: 1).first.map(RecordedChange.init)
        }
        let removal = try store.adminChanges(backendID, action: RecordedChange.ActionName.remove, after: start.position,
                                             limit: 1).first.map(RecordedChange.init)
        return [next, removal].compactMap { $0 }.min { $0.position < $1.position }
    }
}
