import LBStore

/// One backend as the registry stood at an instant, rebuilt from the event log alone: whether it
/// was registered, and its health, admin state, weight, origin and settings (backup, limits) then, each with the change that
/// set it and since when. A change is in effect from the instant recorded on its event.
///
/// Each field is the latest change of that field at or before the instant, within the backend's
/// latest registration (an add resets health to `unknown` and sets the admin state, `enabled`
/// unless the configuration declared another, the weight, the origin and the settings: their
/// defaults unless the add names others). When the add itself has
/// been pruned, a field no change before the instant names is read from the first change after it
/// (its `from`), and only a field that no recorded change touches at all is taken from the registry
/// row; `*Since` is then the log's first record.
struct PastBackendState: Sendable {
    var backendID: Int64
    var url: String
    var instant: Timestamp
    /// False for a backend removed at the instant (listed only with `--all`).
    var isRegistered: Bool
    var addedAt: Timestamp
    var removedAt: Timestamp?
    var health: Health
    var healthSince: Timestamp
    /// The status change that set `health`; nil when the add did (or the log does not say).
    var healthChange: RecordedChange?
    var adminState: AdminState
    var adminStateSince: Timestamp
    /// The admin change that set `adminState` (an `admin_state` change, or the add).
    var adminChange: RecordedChange?
    var weight: Int
    var weightSince: Timestamp
    var origin: BackendOrigin
    var settings: BackendSettings
    /// The removal, for a backend removed at the instant.
    var removal: RecordedChange?

    /// The row `lbctl backends` prints for it.
    var backend: Backend {
        Backend(id: backendID, url: url, weight: weight, adminState: adminState, health: health,
                healthSince: healthSince, addedAt: addedAt, removedAt: removedAt, origin: origin, settings: settings)
    }

    /// The state of `row`'s backend at `instant`, or nil when it had not been added yet.
    ///
    /// - Parameter firstRecord: the log's oldest event, the earliest instant it can vouch for.
    /// - Parameter prefetched: the backend's latest changes before the instant's end, read for
    ///   the whole registry at once (`Store.latestChanges`); without it each is looked up.
    static func load(_ row: Backend, at instant: Timestamp, firstRecord: Timestamp, prefetched: LatestChanges? = nil,
                     from store: Store) throws -> PastBackendState? {
        typealias Name = RecordedChange.ActionName
        let end = EventPosition.end(of: instant)
        let lookup = Lookup(store: store, backendID: row.id, prefetched: prefetched, prefetchedBefore: end)
        let registration = try latest(of: [lookup.latest(Name.add, before: end), lookup.latest(Name.remove, before: end)])
        var added: RecordedChange?
        var removal: RecordedChange?
        switch registration?.action {
        case .added?:
            added = registration
        case .removed?:
            removal = registration
            added = try lookup.latest(Name.add, before: registration!.position)
        default:
            // No add or remove up to the instant: the add was pruned, or comes later.
            let next = try earliest(of: [lookup.earliest(Name.add, after: end), lookup.earliest(Name.remove, after: end)])
            switch next?.action {
            case .added?: return nil
            case .removed?: break
            default:
                // No add or remove recorded at all: only the row knows.
                guard row.addedAt <= instant else { return nil }
                if let removedAt = row.removedAt, removedAt <= instant { return nil }
            }
        }
        // Read the fields as they stood when the instant came, or when the backend was removed.
        let cutoff = removal?.position ?? end
        let floor = added?.position
        func inEffect(_ change: RecordedChange?) -> RecordedChange? {
            guard let change else { return nil }
            if let floor, change.position < floor { return nil }
            return change
        }
        // Pruned add: the first change after the instant says what the field was before it.
        func before(_ action: String) throws -> RecordedChange.Action? {
            guard added == nil else { return nil }
            return try lookup.earliest(action, after: cutoff)?.action
        }
        let since = added?.event.at ?? firstRecord

        var state = PastBackendState(
            backendID: row.id, url: row.url, instant: instant, isRegistered: removal == nil,
            addedAt: added?.event.at ?? (row.addedAt <= instant ? row.addedAt : firstRecord), removedAt: removal?.event.at,
            health: .unknown, healthSince: since, healthChange: nil, adminState: .enabled, adminStateSince: since,
            adminChange: added, weight: row.weight, weightSince: since, origin: row.origin, settings: row.settings,
            removal: removal)

        if let change = inEffect(try lookup.latestStatus(before: cutoff)), let health = change.healthAfter {
            state.health = health
            state.healthSince = change.event.at
            state.healthChange = change
        } else if added == nil, case .health(let from?, _)? = try lookup.earliestStatus(after: cutoff)?.action {
            state.health = from
        }

        if let change = inEffect(try lookup.latest(Name.adminState, before: cutoff)), let to = change.adminStateAfter {
            state.adminState = to
            state.adminStateSince = change.event.at
            state.adminChange = change
        } else if let to = added?.adminStateAfter {
            state.adminState = to
        } else if case .adminState(let from?, _)? = try before(Name.adminState) {
            state.adminState = from
        } else {
            state.adminState = row.adminState
        }

        if let change = inEffect(try lookup.latest(Name.weight, before: cutoff)), case .weight(_, let to) = change.action {
            state.weight = to
            state.weightSince = change.event.at
        } else if case .added(let weight?, _, _)? = added?.action {
            state.weight = weight
        } else if case .weight(let from?, _)? = try before(Name.weight) {
            state.weight = from
        }

        if let change = inEffect(try lookup.latest(Name.origin, before: cutoff)), case .origin(_, let to) = change.action {
            state.origin = to
        } else if case .added(_, let origin?, _)? = added?.action {
            state.origin = origin
        } else if case .origin(let from?, _)? = try before(Name.origin) {
            state.origin = from
        }

        for setting in BackendSetting.allCases {
            if let change = inEffect(try lookup.latest(setting.rawValue, before: cutoff)),
               case .setting(_, _, let to) = change.action, let value = Self.value(of: setting, to) {
                state.settings[setting] = value
            } else if let added {
                // Events written before the settings were recorded name none: the defaults held.
                let named = added.event.data?.settings?[setting.rawValue].flatMap { Self.value(of: setting, $0) }
                state.settings[setting] = named ?? setting.defaultValue
            } else if case .setting(_, let from?, _)? = try before(setting.rawValue),
                      let value = Self.value(of: setting, from) {
                state.settings[setting] = value
            }
        }
        return state
    }

    /// A setting's value as an event wrote it: `.some(nil)` for `none`, nil for text it cannot be.
    private static func value(of setting: BackendSetting, _ text: String) -> Int64?? {
        do {
            return .some(try setting.value(parsing: text))
        } catch {
            return nil
        }
    }

    /// Each of `instances`' view of the backend at the instant: its latest status change since
    /// the registration, `unknown` (since the registration) when it made none.
    ///
    /// - Parameter prefetched: the latest changes before the instant's end (`Store.latestChanges`,
    ///   asked for these instances), used while the backend is registered.
    func views(of instances: [String], prefetched: LatestChanges? = nil, from store: Store) throws -> [InstanceView] {
        let end = removal?.position ?? EventPosition.end(of: instant)
        return try instances.map { instance in
            let latest: Event?
            if let prefetched, removal == nil {
                latest = prefetched.statusByInstance[instance]
            } else {
                latest = try store.backendEvents(backendID, kind: .statusChange, instance: instance, before: end, limit: 1).first
            }
            let change = latest.map(RecordedChange.init).flatMap { $0.event.at >= addedAt ? $0 : nil }
            return InstanceView(instance: instance, change: change)
        }
    }

    private static func latest(of changes: [RecordedChange?]) -> RecordedChange? {
        changes.compactMap { $0 }.max { $0.position < $1.position }
    }

    private static func earliest(of changes: [RecordedChange?]) -> RecordedChange? {
        changes.compactMap { $0 }.min { $0.position < $1.position }
    }

    /// The actions `load` looks up before the instant, which `Store.latestChanges` reads ahead.
    static let prefetchedActions = [RecordedChange.ActionName.add, RecordedChange.ActionName.remove,
                                    RecordedChange.ActionName.adminState, RecordedChange.ActionName.weight,
                                    RecordedChange.ActionName.origin] + BackendSetting.allCases.map(\.rawValue)

    /// The index look-ups of one backend's changes, one row each; those before `prefetchedBefore`
    /// come from `prefetched` when it is there.
    private struct Lookup {
        let store: Store
        let backendID: Int64
        let prefetched: LatestChanges?
        let prefetchedBefore: EventPosition

        func latest(_ action: String, before position: EventPosition) throws -> RecordedChange? {
            if let prefetched, position == prefetchedBefore, PastBackendState.prefetchedActions.contains(action) {
                return prefetched.adminChanges[action].map(RecordedChange.init)
            }
            return try store.adminChanges(backendID, action: action, before: position, limit: 1).first.map(RecordedChange.init)
        }

        func earliest(_ action: String, after position: EventPosition) throws -> RecordedChange? {
            try store.adminChanges(backendID, action: action, after: position, limit: 1).first.map(RecordedChange.init)
        }

        func latestStatus(before position: EventPosition) throws -> RecordedChange? {
            if let prefetched, position == prefetchedBefore { return prefetched.status.map(RecordedChange.init) }
            return try store.backendEvents(backendID, kind: .statusChange, before: position, limit: 1)
                .first.map(RecordedChange.init)
        }

        func earliestStatus(after position: EventPosition) throws -> RecordedChange? {
            try store.backendEvents(backendID, kind: .statusChange, after: position, limit: 1)
                .first.map(RecordedChange.init)
        }
    }
}

/// One daemon's view of a backend at a past instant, in a fleet: the status change it recorded
/// last (nil when it recorded none since the backend's registration).
struct InstanceView: Sendable {
    var instance: String
    var change: RecordedChange?

    /// The view as `lbctl backends` shows it: unknown, since the registration, without a change.
    func instanceHealth(since registration: Timestamp) -> InstanceHealth {
        InstanceHealth(instance: instance, health: change?.healthAfter ?? .unknown, since: change?.event.at ?? registration)
    }

    var health: Health { change?.healthAfter ?? .unknown }
}
