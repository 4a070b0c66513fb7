import CSQLite

extension Store {
    /// A backend's columns as `backend(from:)` reads them: the fixed ones, then each
    /// `BackendSetting`'s in `allCases` order.
    static let backendColumns = "id, url, weight, admin_state, health, health_since, added_at, removed_at, origin, "
        + BackendSetting.allCases.map(\.column).joined(separator: ", ")

    /// How many columns `backendColumns` lists: a query that selects more reads them from here on.
    static let backendColumnCount = Int32(9 + BackendSetting.allCases.count)

    static func backend(from statement: Statement) -> Backend {
        var settings = BackendSettings()
        for (offset, setting) in BackendSetting.allCases.enumerated() {
            settings[setting] = statement.optionalInt64(Int32(9 + offset))
        }
        return Backend(id: statement.int64(0), url: statement.text(1), weight: statement.int(2),
                       adminState: AdminState(rawValue: statement.text(3)) ?? .enabled,
                       health: Health(rawValue: statement.text(4)) ?? .unknown,
                       healthSince: Timestamp(milliseconds: statement.int64(5)),
                       addedAt: Timestamp(milliseconds: statement.int64(6)),
                       removedAt: statement.optionalInt64(7).map(Timestamp.init(milliseconds:)),
                       origin: BackendOrigin(rawValue: statement.text(8)) ?? .runtime,
                       settings: settings)
    }

    /// The registry ordered by id; removed backends only when asked.
    public func backends(includeRemoved: Bool = false) throws -> [Backend] {
        try withConnection { connection in
            let sql = includeRemoved
                ? "SELECT \(Store.backendColumns) FROM backends ORDER BY id"
                : "SELECT \(Store.backendColumns) FROM backends WHERE removed_at IS NULL ORDER BY id"
            let statement = try connection.statement(sql)
            var result: [Backend] = []
            while try statement.step() { result.append(Store.backend(from: statement)) }
            return result
        }
    }

    /// The backend with this exact URL, removed or not.
    public func backend(url: String) throws -> Backend? {
        try withConnection { try Store.backend(url: url, in: $0) }
    }

    static func backend(url: String, in connection: Connection) throws -> Backend? {
        let statement = try connection.statement("SELECT \(backendColumns) FROM backends WHERE url = ?")
        try statement.bind(.text(url))
        return try statement.step() ? backend(from: statement) : nil
    }

    /// Adds a backend (or brings a removed one back, keeping its history) and records an
    /// `admin_change` event naming `actor`, in one transaction.
    ///
    /// Throws `.invalidValue` if a backend with this URL is already registered.
    @discardableResult
    public func addBackend(url: String, weight: Int = 1, origin: BackendOrigin = .runtime,
                           actor: String, command: String? = nil, at now: Timestamp = .now()) throws -> Backend {
        guard weight >= 0 else { throw StoreError(.invalidValue, "weight must be 0 or more, not \(weight)") }
        return try withConnection { connection in
            try connection.transaction {
                if let existing = try Store.backend(url: url, in: connection) {
                    guard existing.isRemoved else {
                        throw StoreError(.invalidValue, "backend \(url) is already registered")
                    }
                    // Brought back, it starts afresh: the settings it had go with its old registration.
                    let settings = Store.settingsAssignments(declared: [:])
                    let statement = try connection.statement("""
                        UPDATE backends SET removed_at = NULL, weight = ?, admin_state = 'enabled',
                            health = 'unknown', health_since = ?, added_at = ?, origin = ?, \(settings.sql) WHERE id = ?
                        """)
                    try statement.bind([.integer(Int64(weight)), .integer(now.milliseconds),
                                        .integer(now.milliseconds), .text(origin.rawValue)] + settings.values
                                       + [.integer(existing.id)])
                        .run()
                } else {
                    let statement = try connection.statement("""
                        INSERT INTO backends (url, weight, health_since, added_at, origin) VALUES (?, ?, ?, ?, ?)
                        """)
                    try statement.bind(.text(url), .integer(Int64(weight)), .integer(now.milliseconds),
                                       .integer(now.milliseconds), .text(origin.rawValue)).run()
                }
                guard let added = try Store.backend(url: url, in: connection) else {
                    throw StoreError(.sqlite, "backend \(url) vanished while being added")
                }
                try Store.insert(Event(at: now, kind: .adminChange, backendID: added.id,
                                       detail: "add weight=\(weight) origin=\(origin.rawValue) by=\(actor)",
                                       data: EventData(action: "add", to: AdminState.enabled.rawValue, actor: actor,
                                                       command: command, origin: origin.rawValue, weight: weight)),
                                 into: connection)
                return added
            }
        }
    }

    /// Marks a backend removed; its row and history stay so old events still name it.
    public func removeBackend(url: String, actor: String, command: String? = nil, at now: Timestamp = .now()) throws {
        try mutateBackend(url: url, actor: actor, command: command, at: now,
                          change: { _ in ("remove", EventData(action: "remove")) }) { connection, backend in
            let statement = try connection.statement("UPDATE backends SET removed_at = ? WHERE id = ?")
            try statement.bind(.integer(now.milliseconds), .integer(backend.id)).run()
        }
    }

    /// Sets the operator's state for a backend and records who did it.
    public func setAdminState(_ state: AdminState, url: String, actor: String, command: String? = nil,
                              at now: Timestamp = .now()) throws {
        try mutateBackend(url: url, actor: actor, command: command, at: now, change: {
            ("admin_state \($0.adminState.rawValue)->\(state.rawValue)",
             EventData(action: "admin_state", from: $0.adminState.rawValue, to: state.rawValue))
        }) { connection, backend in
            let statement = try connection.statement("UPDATE backends SET admin_state = ? WHERE id = ?")
            try statement.bind(.text(state.rawValue), .integer(backend.id)).run()
        }
    }

    /// Sets a backend's weight and records who did it.
    public func setWeight(_ weight: Int, url: String, actor: String, command: String? = nil,
                          at now: Timestamp = .now()) throws {
        guard weight >= 0 else { throw StoreError(.invalidValue, "weight must be 0 or more, not \(weight)") }
        try mutateBackend(url: url, actor: actor, command: command, at: now, change: {
            ("weight \($0.weight)->\(weight)", EventData(action: "weight", from: String($0.weight), to: String(weight)))
        }) { connection, backend in
            let statement = try connection.statement("UPDATE backends SET weight = ? WHERE id = ?")
            try statement.bind(.integer(Int64(weight)), .integer(backend.id)).run()
        }
    }

    /// Looks up a live backend, applies `apply` and writes the `admin_change` event that `change`
    /// describes (detail and structured data, completed with actor and command), atomically.
    private func mutateBackend(url: String, actor: String, command: String?, at now: Timestamp,
                               change: (Backend) -> (String, EventData),
                               _ apply: (Connection, Backend) throws -> Void) throws {
        try withConnection { connection in
            try connection.transaction {
                guard let backend = try Store.backend(url: url, in: connection), !backend.isRemoved else {
                    throw StoreError(.unknownBackend, "no backend \(url) in the registry")
                }
                let (detail, data) = change(backend)
                var completed = data
                completed.actor = actor
                completed.command = command
                try apply(connection, backend)
                try Store.insert(Event(at: now, kind: .adminChange, backendID: backend.id,
                                       detail: "\(detail) by=\(actor)", data: completed),
                                 into: connection)
            }
        }
    }

    /// The balancer's saved state (cursor, last start and clean stop).
    public func balancerState() throws -> BalancerState {
        try withConnection { connection in
            let statement = try connection.statement(
                "SELECT cursor, last_start, last_clean_stop, saved_at FROM balancer_state WHERE id = 1")
            guard try statement.step() else { return BalancerState() }
            return BalancerState(cursor: statement.int64(0),
                                 lastStart: statement.optionalInt64(1).map(Timestamp.init(milliseconds:)),
                                 lastCleanStop: statement.optionalInt64(2).map(Timestamp.init(milliseconds:)),
                                 savedAt: statement.optionalInt64(3).map(Timestamp.init(milliseconds:)))
        }
    }
}

extension Store {
    /// A number that grows with every change to the registry that is not a health update
    /// (add, remove, admin state, weight); the daemon reloads its backends when it moves.
    public func registryVersion() throws -> Int64 {
        try withConnection { connection in
            let statement = try connection.statement("SELECT registry_version FROM balancer_state WHERE id = 1")
            return try statement.step() ? statement.int64(0) : 0
        }
    }
}
