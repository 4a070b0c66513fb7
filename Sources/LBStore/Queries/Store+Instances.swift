extension Store {
    /// Every daemon that has used this database, by name.
    public func instances() throws -> [Instance] {
        try withConnection { connection in
            let statement = try connection.statement("""
                SELECT name, host, pid, listen, version, started_at, heartbeat_at, stopped_at FROM instances ORDER BY name
                """)
            var result: [Instance] = []
            while try statement.step() {
                result.append(Instance(
                    identity: InstanceIdentity(name: statement.text(0), host: statement.text(1), pid: statement.int(2),
                                               listen: statement.text(3), version: statement.text(4)),
                    startedAt: Timestamp(milliseconds: statement.int64(5)),
                    heartbeatAt: Timestamp(milliseconds: statement.int64(6)),
                    stoppedAt: statement.optionalInt64(7).map(Timestamp.init(milliseconds:))))
            }
            return result
        }
    }

    /// Records that `identity` started at `now` (a restart of the same name replaces its row).
    static func registerInstance(_ identity: InstanceIdentity, at now: Timestamp, in connection: Connection) throws {
        try connection.statement("""
            INSERT INTO instances (name, host, pid, listen, version, started_at, heartbeat_at, stopped_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
            ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, listen = excluded.listen,
                version = excluded.version, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                stopped_at = NULL
            """)
            .bind(.text(identity.name), .text(identity.host), .integer(Int64(identity.pid)), .text(identity.listen),
                  .text(identity.version), .integer(now.milliseconds), .integer(now.milliseconds))
            .run()
    }
}

/// One daemon's view of one backend's health (`backend_health`).
public struct InstanceHealth: Hashable, Sendable {
    public var instance: String
    public var health: Health
    public var since: Timestamp

    public init(instance: String, health: Health, since: Timestamp) {
        self.instance = instance
        self.health = health
        self.since = since
    }
}

extension Store {
    /// Each daemon's last view of each backend's health, by backend id, ordered by instance name.
    public func healthByInstance() throws -> [Int64: [InstanceHealth]] {
        try withConnection { connection in
            let statement = try connection.statement(
                "SELECT backend_id, instance, health, since FROM backend_health ORDER BY backend_id, instance")
            var result: [Int64: [InstanceHealth]] = [:]
            while try statement.step() {
                result[statement.int64(0), default: []].append(InstanceHealth(
                    instance: statement.text(1), health: Health(rawValue: statement.text(2)) ?? .unknown,
                    since: Timestamp(milliseconds: statement.int64(3))))
            }
            return result
        }
    }
}
