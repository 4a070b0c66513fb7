/// What an operator has said about a backend, independent of its health.
public enum AdminState: String, CaseIterable, Sendable, Codable {
    /// Receives traffic when healthy.
    case enabled
    /// Receives no new traffic; in-flight requests finish. Still health-checked.
    case drained
    /// Out of service and not checked.
    case disabled
}

/// The last known result of health checks and traffic for a backend.
public enum Health: String, CaseIterable, Sendable, Codable {
    case up
    case down
    case unknown
}

/// Where a backend entered the registry from.
public enum BackendOrigin: String, CaseIterable, Sendable, Codable {
    /// Declared by the daemon's configuration (`--backends` or the config file).
    case config
    /// Added at run time, for example by `lbctl add`.
    case runtime
}

/// One row of the backend registry.
public struct Backend: Hashable, Sendable {
    public var id: Int64
    public var url: String
    public var weight: Int
    public var adminState: AdminState
    public var health: Health
    public var healthSince: Timestamp
    public var addedAt: Timestamp
    /// Set when the backend was removed; its row stays so old events still name it.
    public var removedAt: Timestamp?
    public var origin: BackendOrigin
    /// Its backup mark and own limits.
    public var settings: BackendSettings

    public init(id: Int64, url: String, weight: Int, adminState: AdminState, health: Health,
                healthSince: Timestamp, addedAt: Timestamp, removedAt: Timestamp?, origin: BackendOrigin,
                settings: BackendSettings = BackendSettings()) {
        self.id = id
        self.url = url
        self.weight = weight
        self.adminState = adminState
        self.health = health
        self.healthSince = healthSince
        self.addedAt = addedAt
        self.removedAt = removedAt
        self.origin = origin
        self.settings = settings
    }

    public var isRemoved: Bool { removedAt != nil }
}

/// The balancer's own persistent state: one row.
public struct BalancerState: Hashable, Sendable {
    /// The round-robin cursor as last saved.
    public var cursor: Int64
    public var lastStart: Timestamp?
    /// When the daemon last stopped cleanly; older than `lastStart` after a crash.
    public var lastCleanStop: Timestamp?
    /// When the cursor and health were last written.
    public var savedAt: Timestamp?

    public init(cursor: Int64 = 0, lastStart: Timestamp? = nil, lastCleanStop: Timestamp? = nil,
                savedAt: Timestamp? = nil) {
        self.cursor = cursor
        self.lastStart = lastStart
        self.lastCleanStop = lastCleanStop
        self.savedAt = savedAt
    }
}
