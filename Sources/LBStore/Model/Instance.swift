/// What a daemon says of itself when it starts: the row it keeps in `instances`.
public struct InstanceIdentity: Hashable, Sendable {
    /// `--instance`: unique among the daemons that share a database (default: the host name).
    public var name: String
    public var host: String
    public var pid: Int
    /// The address it serves traffic on, as configured (`0.0.0.0:80`).
    public var listen: String
    public var version: String

    public init(name: String, host: String, pid: Int, listen: String, version: String) {
        self.name = name
        self.host = host
        self.pid = pid
        self.listen = listen
        self.version = version
    }
}

/// A daemon that uses (or used) this database, as its row says.
public struct Instance: Hashable, Sendable {
    public var identity: InstanceIdentity
    public var startedAt: Timestamp
    /// Renewed every few seconds while it runs (`heartbeatInterval`).
    public var heartbeatAt: Timestamp
    /// When it stopped cleanly; nil while it runs, or when it died.
    public var stoppedAt: Timestamp?

    /// How often a running daemon renews its heartbeat.
    public static let heartbeatInterval: Duration = .seconds(5)
    /// A heartbeat older than this, with no clean stop, means the daemon is gone (three missed).
    public static let staleAfter: Duration = .seconds(15)

    public init(identity: InstanceIdentity, startedAt: Timestamp, heartbeatAt: Timestamp, stoppedAt: Timestamp?) {
        self.identity = identity
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.stoppedAt = stoppedAt
    }

    /// What its row says about it at `now`.
    public enum State: String, Sendable {
        /// Its heartbeat is fresh.
        case running
        /// It stopped cleanly.
        case stopped
        /// Its heartbeat is stale and it never said it stopped: killed, crashed, or its host is gone.
        case lost
    }

    public func state(at now: Timestamp) -> State {
        if stoppedAt != nil { return .stopped }
        let age = now.milliseconds - heartbeatAt.milliseconds
        return age <= Int64(Self.staleAfter.components.seconds * 1_000) ? .running : .lost
    }
}
