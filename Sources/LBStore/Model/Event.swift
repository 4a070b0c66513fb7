/// The kinds of entries in the event log.
public enum EventKind: String, CaseIterable, Sendable, Codable {
    /// A transport error toward a backend (refused, reset, timeout before a response head).
    case failure
    /// The same backend is tried again after a failure.
    case retry
    /// A request was sent to a backend (recorded for retried or failed requests).
    case attempt
    /// A backend's health changed (up/down).
    case statusChange = "status_change"
    /// An operator changed the registry (add, remove, enable, drain, disable, weight).
    case adminChange = "admin_change"
    /// The client was answered with an error status by the balancer itself (502, 503, 504).
    /// Coalesced: one row stands for every such answer with the same status, reason and backend
    /// in about a second; `count` says how many.
    case rejected
    /// The client's request was refused as its own fault (400, 408, 414, 431, 501, 505) by the
    /// proxy's HTTP layer and never reached a backend. Coalesced like `rejected`.
    case refused
    case startup
    case shutdown
    /// Events that could not be recorded; `detail` holds the count.
    case dropped
    /// The database could not be written for a while (locked, read-only, full).
    case storeError = "store_error"
    /// A request failed the same way on two backends and was answered 502 without marking the
    /// second one down: a suspected request of death. Names the backend it spared.
    case suspectRequest = "suspect_request"
    /// Traffic would have marked a backend down, but traffic had already marked down half of the
    /// enabled backends within one health-down interval; it stayed up for the checks to judge. Also
    /// (cause `outlier`) when outlier detection would have ejected more than its share at once.
    case guardHeld = "guard_held"
    /// `lbctl prune` deleted the records older than a cutoff: the marker that tells later readers
    /// (the audit) that nothing before it is left. Its data holds the cutoff and what went.
    case prune
    /// The daemon read its configuration again (SIGHUP or `lbserver reload`): what it applied, or
    /// why it refused the new configuration and kept the running one.
    case reload
}

/// One entry of the event log, as written by the daemon or `lbctl`.
public struct Event: Hashable, Sendable {
    /// Row id once stored; 0 for an event not yet written.
    public var id: Int64
    public var at: Timestamp
    public var kind: EventKind
    public var backendID: Int64?
    /// The backend's URL, filled in by read queries.
    public var backendURL: String?
    public var requestID: String?
    public var attempt: Int?
    public var detail: String?
    /// Structured facts for later questions (cause, evidence, who changed what); see `EventData`.
    public var data: EventData?
    /// How many occurrences the row stands for: 1 for a plain event, more for a coalesced one
    /// (`rejected`, `refused`), whose `at` is its first occurrence. Readers sum it, never count rows.
    public var count: Int
    /// The daemon that recorded it (`--instance`); nil for `lbctl`'s own records and rows older
    /// than schema v8. The event writer fills in its own instance where an event names none.
    public var instance: String?

    public init(id: Int64 = 0, at: Timestamp, kind: EventKind, backendID: Int64? = nil,
                backendURL: String? = nil, requestID: String? = nil, attempt: Int? = nil,
                detail: String? = nil, data: EventData? = nil, count: Int = 1, instance: String? = nil) {
        self.id = id
        self.at = at
        self.kind = kind
        self.backendID = backendID
        self.backendURL = backendURL
        self.requestID = requestID
        self.attempt = attempt
        self.detail = detail
        self.data = data
        self.count = count
        self.instance = instance
    }
}
