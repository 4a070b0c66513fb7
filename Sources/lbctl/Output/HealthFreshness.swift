import LBStore

/// Whether the health `lbctl backends` shows is kept current: only a running lbserver checks
/// backends, so with none running the health is as the last one left it. Read from the daemons'
/// heartbeats (`instances`).
enum HealthFreshness: Equatable, Sendable {
    /// At least one daemon's heartbeat is fresh.
    case live
    /// No daemon runs; `last` is the one seen last (the latest heartbeat), of `of` that used the database.
    case stale(last: Instance, of: Int)
    /// No daemon has ever recorded a heartbeat here (a new database, or one from before schema v8).
    case neverChecked

    init(_ instances: [Instance], now: Timestamp) {
        if instances.contains(where: { $0.state(at: now) == .running }) {
            self = .live
        } else if let last = instances.max(by: { $0.heartbeatAt < $1.heartbeatAt }) {
            self = .stale(last: last, of: instances.count)
        } else {
            self = .neverChecked
        }
    }

    /// The warning for standard error, nil while a daemon runs.
    func warning(now: Timestamp) -> String? {
        switch self {
        case .live:
            return nil
        case .neverChecked:
            return "warning: no lbserver has recorded a heartbeat in this database: the health shown was not "
                + "checked by a running lbserver"
        case .stale(let last, let count):
            let seen = last.state(at: now) == .stopped
                ? "stopped \(TimeText.ago(last.stoppedAt ?? last.heartbeatAt, now: now)):"
                : "last seen \(TimeText.ago(last.heartbeatAt, now: now)): not running?"
            let who = count == 1 ? "lbserver" : "no lbserver of \(count) is running; the last, \(last.identity.name),"
            return "warning: \(who) \(seen) the health shown is as it was then"
        }
    }

    /// The `"stale"` value of each `lbctl backends --json` row: null while a daemon runs, else
    /// `{"last_seen", "instance", "state"}`: the last heartbeat (or clean stop) of the daemon seen
    /// last, its name, and `stopped`/`lost` (`never`, with nulls, when none ever ran).
    func json(now: Timestamp) -> JSONValue {
        switch self {
        case .live:
            return .null
        case .neverChecked:
            return .object([("last_seen", .null), ("instance", .null), ("state", .string("never"))])
        case .stale(let last, _):
            return .object([
                ("last_seen", .string(TimeText.rfc3339(last.stoppedAt ?? last.heartbeatAt))),
                ("instance", .string(last.identity.name)),
                ("state", .string(last.state(at: now).rawValue)),
            ])
        }
    }
}
