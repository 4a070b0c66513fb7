/// Why a recorded change happened, as `events.data.cause` stores it and `lbctl` prints it (the raw
/// value, so existing databases and output are unchanged).
public enum EventCause: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// Health checks crossed their rise or fall threshold.
    case check
    /// Failed tries of a request marked the backend down (or would have: `guard_held`).
    case traffic
    /// An operator's change (`lbctl`), or the configuration's on start or reload.
    case admin
    /// State restored from the database at start.
    case restore
    /// The request itself is blamed (`suspect_request`).
    case request
    /// Passive outlier detection: failed tries in a row ejected the backend for a while, or the
    /// ejection ended.
    case outlier

    public var description: String { rawValue }
}
