/// A filter over the event log. Empty `kinds` means every kind.
public struct EventQuery: Hashable, Sendable {
    public var range: TimeRange
    public var backendID: Int64?
    public var kinds: [EventKind]
    /// At most this many events: the newest ones in the window, still returned oldest first.
    public var limit: Int?
    /// Only events with a larger id, for following the log as it grows.
    public var afterID: Int64?
    /// Only events this daemon recorded (`Event.instance`).
    public var instance: String?

    public init(range: TimeRange = .all, backendID: Int64? = nil, kinds: [EventKind] = [],
                limit: Int? = nil, afterID: Int64? = nil, instance: String? = nil) {
        self.range = range
        self.backendID = backendID
        self.kinds = kinds
        self.limit = limit
        self.afterID = afterID
        self.instance = instance
    }
}
