import Foundation

/// The structured facts an event carries beside its one-line `detail`, stored as JSON in
/// `events.data` so that questions asked later (`lbctl backends --at`, `lbctl why`) are answered
/// from what was recorded, not from parsing prose.
///
/// Which fields are set depends on the event's kind:
/// - `admin_change`: `action` (`add`, `remove`, `admin_state`, `weight`, `origin`), `from`, `to`,
///   `actor` (OS user or `lbserver`), `command` (the command line), and for `add` `weight`/`origin`
///   and `settings` (the `BackendSetting`s it set other than their defaults). A setting's change
///   has the setting's name as its action (`backup`, `max_connections`, …) and its values as
///   `BackendSetting.text` writes them (`true`, `100`, `500ms`, `none`).
/// - `status_change`: `from`, `to`, `cause` (`check`, `traffic`, `admin`, `restore`, `outlier`),
///   `threshold` (the rise or fall count in effect, or the failures in a row that eject),
///   `evidence`, for `restore` `state_age_ms`, and for an outlier ejection `ejected_until` (Unix
///   ms) and `ejections` (its number among the backend's recent ones).
/// - `startup`: `path` (`first`, `fresh`, `stale`), `state_age_ms`, `differences`, and when it took
///   over from a running daemon (`lbserver --replace`) `replaced_pid`.
/// - `reload`: `outcome` (`ok`, `refused`), `reason` (why refused), `applied` (the settings and
///   registry changes it applied), `needs_restart` (changed settings it could not apply in place),
///   `restarted_pid` (the daemon that took over when it restarted by handover).
/// - `suspect_request`: `cause` (`request`), `method`, `target`, `backend_ids` (every backend it
///   failed on, the spared one last), `evidence`.
/// - `guard_held`: `cause` (`traffic`, or `outlier` when outlier detection may not eject more),
///   `threshold` (how many backends traffic may mark down in one health-down interval, or how
///   many may be ejected at once), `evidence` (the failed tries).
/// - `prune`: `cutoff` (Unix ms: everything older was deleted), `events` and `health_runs` (how
///   many rows went), `actor` and `command`.
/// - `failure`: `via`, how the client's request came (`HTTP/1.1`, `HTTP/2 over TLSv1.3`).
/// - `rejected`, `refused` (coalesced): `request_ids` and `clients`, the first few request ids and
///   distinct client addresses of the occurrences the row stands for, and `last_at` (Unix ms) when
///   it stands for more than one. The samples live here rather than in a table of their own
///   because they are read by a person looking at one row, never joined or aggregated: a row per
///   sample would bring back the flood that coalescing removes, and the exact number of
///   occurrences is the `events.count` column, which every reader sums.
public struct EventData: Codable, Hashable, Sendable {
    public var action: String?
    public var from: String?
    public var to: String?
    public var actor: String?
    public var command: String?
    public var origin: String?
    public var weight: Int?
    /// For `add`: the per-backend settings it set other than their defaults, by name, as text.
    public var settings: [String: String]?
    public var cause: EventCause?
    public var threshold: Int?
    public var evidence: [Evidence]?
    public var stateAgeMs: Int64?
    public var path: String?
    public var differences: [ConfigDifference]?
    /// For `suspect_request`: the request's method and target, and the backends it failed on.
    public var method: String?
    public var target: String?
    public var backendIDs: [Int64]?
    /// A coalesced row's first few request ids (its `request_id` column holds the first).
    public var requestIDs: [String]?
    /// A coalesced row's first few distinct client addresses.
    public var clients: [String]?
    /// A coalesced row's last occurrence, Unix milliseconds; its first is the row's `at`.
    public var lastAt: Int64?
    /// For `failure`: the protocol (and TLS version) of the client's request, `HTTP/2 over TLSv1.3`.
    public var via: String?
    /// For an outlier ejection (`status_change`, cause `outlier`, to `down`; also its restore):
    /// when it ends, Unix milliseconds.
    public var ejectedUntil: Int64?
    /// For an outlier ejection: how many recent ejections of the backend it makes, this one counted
    /// (its length is that many base ejections, up to the maximum).
    public var ejections: Int?
    /// For a start by handover: the process id of the daemon it replaced.
    public var replacedPID: Int?
    /// For a reload: `ok` or `refused`.
    public var outcome: String?
    /// For a refused reload: why, as the operator was told.
    public var reason: String?
    /// For a reload: what it applied (`setting` keys, `backend:URL:field` registry changes).
    public var applied: [String]?
    /// For a reload: the changed settings that take effect only at the next (handover) restart.
    public var needsRestart: [String]?
    /// For a reload that restarted by handover: the process id of the daemon that took over.
    public var restartedPID: Int?
    /// For `prune`: the cutoff, Unix milliseconds; events and health runs older were deleted.
    public var cutoff: Int64?
    /// For `prune`: how many events it deleted.
    public var events: Int?
    /// For `prune`: how many health runs it deleted.
    public var healthRuns: Int?

    public init(action: String? = nil, from: String? = nil, to: String? = nil, actor: String? = nil,
                command: String? = nil, origin: String? = nil, weight: Int? = nil, cause: EventCause? = nil,
                threshold: Int? = nil, evidence: [Evidence]? = nil, stateAgeMs: Int64? = nil, path: String? = nil,
                differences: [ConfigDifference]? = nil, method: String? = nil, target: String? = nil,
                backendIDs: [Int64]? = nil, requestIDs: [String]? = nil, clients: [String]? = nil,
                lastAt: Int64? = nil, via: String? = nil, ejectedUntil: Int64? = nil, ejections: Int? = nil,
                replacedPID: Int? = nil, outcome: String? = nil, reason: String? = nil, applied: [String]? = nil,
                needsRestart: [String]? = nil, restartedPID: Int? = nil,
                cutoff: Int64? = nil, events: Int? = nil, healthRuns: Int? = nil,
                settings: [String: String]? = nil) {
        self.action = action
        self.from = from
        self.to = to
        self.actor = actor
        self.command = command
        self.origin = origin
        self.weight = weight
        self.cause = cause
        self.threshold = threshold
        self.evidence = evidence
        self.stateAgeMs = stateAgeMs
        self.path = path
        self.differences = differences
        self.method = method
        self.target = target
        self.backendIDs = backendIDs
        self.requestIDs = requestIDs
        self.clients = clients
        self.lastAt = lastAt
        self.via = via
        self.ejectedUntil = ejectedUntil
        self.ejections = ejections
        self.replacedPID = replacedPID
        self.outcome = outcome
        self.reason = reason
        self.applied = applied
        self.needsRestart = needsRestart
        self.restartedPID = restartedPID
        self.cutoff = cutoff
        self.events = events
        self.healthRuns = healthRuns
        self.settings = settings
    }

    enum CodingKeys: String, CodingKey {
        case action, from, to, actor, command, origin, weight, cause, threshold, evidence
        case stateAgeMs = "state_age_ms"
        case path, differences, method, target
        case backendIDs = "backend_ids"
        case requestIDs = "request_ids"
        case clients
        case lastAt = "last_at"
        case via
        case ejectedUntil = "ejected_until"
        case ejections
        case replacedPID = "replaced_pid"
        case outcome, reason, applied
        case needsRestart = "needs_restart"
        case restartedPID = "restarted_pid"
        case cutoff, events
        case healthRuns = "health_runs"
        case settings
    }

    /// The JSON text stored in `events.data`.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Decodes stored JSON; nil for text that is not an `EventData`.
    public init?(json: String) {
        guard let decoded = try? JSONDecoder().decode(EventData.self, from: Data(json.utf8)) else { return nil }
        self = decoded
    }
}

/// One observation behind a status change: a check result, a failed request or an operator action.
public struct Evidence: Codable, Hashable, Sendable {
    /// Unix milliseconds.
    public var at: Int64
    public var source: Source
    public var requestID: String?
    public var attempt: Int?
    public var error: String?
    public var latencyMs: Double?

    /// Where an observation came from, as stored (the raw value).
    public enum Source: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
        /// A health check result.
        case check
        /// A failed try of a request.
        case request
        /// An operator's action.
        case admin

        public var description: String { rawValue }
    }

    public init(at: Timestamp, source: Source, requestID: String? = nil, attempt: Int? = nil, error: String? = nil,
                latencyMs: Double? = nil) {
        self.at = at.milliseconds
        self.source = source
        self.requestID = requestID
        self.attempt = attempt
        self.error = error
        self.latencyMs = latencyMs
    }

    enum CodingKeys: String, CodingKey {
        case at, source
        case requestID = "request_id"
        case attempt, error
        case latencyMs = "latency_ms"
    }
}

/// A field on which the configuration and the registry disagreed at startup, and who won.
public struct ConfigDifference: Codable, Hashable, Sendable {
    /// The field of a backend the two sides disagreed on, as stored (the raw value).
    public enum Field: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
        /// The backend exists in the registry but the configuration no longer declares it.
        case registered
        /// An `lbctl add`ed backend the configuration now declares.
        case origin
        case weight
        case adminState = "admin_state"
        case backup
        case maxConnections = "max_connections"
        case connectTimeout = "connect_timeout"
        case responseTimeout = "response_timeout"
        case tlsVerify = "tls_verify"

        public var description: String { rawValue }
    }

    public var url: String
    public var field: Field
    /// The configuration's value.
    public var config: String?
    /// The registry's value.
    public var runtime: String?
    /// Whose value holds now.
    public var winner: BackendOrigin

    public init(url: String, field: Field, config: String?, runtime: String?, winner: BackendOrigin) {
        self.url = url
        self.field = field
        self.config = config
        self.runtime = runtime
        self.winner = winner
    }
}
