import CSQLite

/// A backend as the daemon's configuration (`--backends` or the config file) declares it; a field
/// left nil (a setting left out of `settings`) is not declared: the registry's value stands, unless
/// the configuration declared it before (see `Store.reconcile`).
public struct DeclaredBackend: Hashable, Sendable {
    public var url: String
    public var weight: Int?
    public var adminState: AdminState?
    /// The per-backend settings it declares (backup, limits), as the registry stores them.
    public var settings: [BackendSetting: Int64]

    public init(url: String, weight: Int? = nil, adminState: AdminState? = nil, settings: [BackendSetting: Int64] = [:]) {
        self.url = url
        self.weight = weight
        self.adminState = adminState
        self.settings = settings
    }
}

extension Store {
    /// Brings the registry in line with the configuration at startup (or at a reload, named by
    /// `occasion` in each event's command), in one transaction, and
    /// returns every difference found and which side won:
    /// - a `config` backend no longer declared is removed (its history kept);
    /// - a `runtime` backend (added by `lbctl`) stays; declared, it becomes a `config` backend;
    /// - a declared backend that is missing is added;
    /// - an operator's runtime change to a field (weight, admin state, a `BackendSetting`) holds
    ///   until the configuration changes what it declares of that same field; then the
    ///   configuration wins. A field the configuration declared and no longer does has changed
    ///   too: it goes back to its default (weight 1, enabled, the setting's default). A field it
    ///   never declared is the operator's.
    /// Every change is an `admin_change` event by `actor` with `command` saying why.
    @discardableResult
    public func reconcile(declared: [DeclaredBackend], actor: String = "lbserver", occasion: String = "startup",
                          instance: String? = nil, at now: Timestamp = .now()) throws -> [ConfigDifference] {
        try withConnection { connection in
            try connection.transaction {
                var differences: [ConfigDifference] = []
                let declaredURLs = Set(declared.map(\.url))
                let live = try Store.liveBackendsWithDeclarations(in: connection)
                for entry in live where entry.backend.origin == .config && !declaredURLs.contains(entry.backend.url) {
                    try connection.statement("UPDATE backends SET removed_at = ? WHERE id = ?")
                        .bind(.integer(now.milliseconds), .integer(entry.backend.id)).run()
                    try Store.insert(Event(at: now, kind: .adminChange, backendID: entry.backend.id,
                                           detail: "remove (no longer in the configuration) by=\(actor)",
                                           data: EventData(action: "remove", actor: actor,
                                                           command: "\(occasion): no longer in the configuration"),
                                           instance: instance),
                                     into: connection)
                    differences.append(ConfigDifference(url: entry.backend.url, field: .registered, config: "absent",
                                                        runtime: "present", winner: .config))
                }
                let byURL = Dictionary(live.map { ($0.backend.url, $0) }, uniquingKeysWith: { first, _ in first })
                for declaration in declared {
                    guard let entry = byURL[declaration.url] else {
                        try Store.addDeclared(declaration, actor: actor, occasion: occasion, instance: instance, at: now,
                                              in: connection)
                        continue
                    }
                    differences += try Store.applyDeclaration(declaration, to: entry, actor: actor, occasion: occasion,
                                                              instance: instance, at: now,
                                                              in: connection)
                }
                return differences
            }
        }
    }

    private struct DeclaredEntry {
        var backend: Backend
        var configWeight: Int?
        var configAdminState: AdminState?
        /// What the configuration last declared of each setting (absent: not declared).
        var configSettings: [BackendSetting: Int64]
    }

    private static func liveBackendsWithDeclarations(in connection: Connection) throws -> [DeclaredEntry] {
        let configColumns = BackendSetting.allCases.map(\.configColumn).joined(separator: ", ")
        let statement = try connection.statement("""
            SELECT \(backendColumns), config_weight, config_admin_state, \(configColumns) FROM backends
            WHERE removed_at IS NULL ORDER BY id
            """)
        let first = backendColumnCount
        var result: [DeclaredEntry] = []
        while try statement.step() {
            var configSettings: [BackendSetting: Int64] = [:]
            for (offset, setting) in BackendSetting.allCases.enumerated() {
                configSettings[setting] = statement.optionalInt64(first + 2 + Int32(offset))
            }
            result.append(DeclaredEntry(backend: backend(from: statement),
                                        configWeight: statement.optionalInt64(first).map { Int($0) },
                                        configAdminState: statement.optionalText(first + 1).flatMap(AdminState.init(rawValue:)),
                                        configSettings: configSettings))
        }
        return result
    }

    /// Adds (or brings back) a declared backend with origin `config`.
    private static func addDeclared(_ declaration: DeclaredBackend, actor: String, occasion: String, instance: String?,
                                    at now: Timestamp, in connection: Connection) throws {
        let weight = declaration.weight ?? 1
        let state = declaration.adminState ?? .enabled
        if let existing = try backend(url: declaration.url, in: connection) {
            try connection.statement("""
                UPDATE backends SET removed_at = NULL, weight = ?, admin_state = ?, health = 'unknown',
                    health_since = ?, added_at = ?, origin = 'config' WHERE id = ?
                """)
                .bind(.integer(Int64(weight)), .text(state.rawValue), .integer(now.milliseconds), .integer(now.milliseconds),
                      .integer(existing.id)).run()
        } else {
            try connection.statement("""
                INSERT INTO backends (url, weight, admin_state, health_since, added_at, origin)
                VALUES (?, ?, ?, ?, ?, 'config')
                """)
                .bind(.text(declaration.url), .integer(Int64(weight)), .text(state.rawValue), .integer(now.milliseconds),
                      .integer(now.milliseconds)).run()
        }
        guard let existing = try backend(url: declaration.url, in: connection) else { return }
        // Added or brought back, it has the settings declared, else the defaults.
        let settings = settingsAssignments(declared: declaration.settings)
        try connection.statement("UPDATE backends SET config_weight = ?, config_admin_state = ?, \(settings.sql) WHERE id = ?")
            .bind([.optional(declaration.weight.map(Int64.init)), .optional(declaration.adminState?.rawValue)]
                  + settings.values + [.integer(existing.id)]).run()
        guard let added = try backend(url: declaration.url, in: connection) else { return }
        let declared = nonDefaultSettings(added.settings)
        let settingsText = (declared ?? [:]).sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        try insert(Event(at: now, kind: .adminChange, backendID: added.id,
                         detail: "add weight=\(weight) origin=config\(settingsText) by=\(actor)",
                         data: EventData(action: "add", to: state.rawValue, actor: actor,
                                         command: "\(occasion): declared by the configuration", origin: "config",
                                         weight: weight, settings: declared),
                         instance: instance),
                   into: connection)
    }

    /// Applies one declaration to a backend already registered; returns the differences.
    private static func applyDeclaration(_ declaration: DeclaredBackend, to entry: DeclaredEntry, actor: String,
                                         occasion: String, instance: String?, at now: Timestamp,
                                         in connection: Connection) throws -> [ConfigDifference] {
        let backend = entry.backend
        var differences: [ConfigDifference] = []
        func record(_ action: String, from: String, to: String, why: String) throws {
            try insert(Event(at: now, kind: .adminChange, backendID: backend.id,
                             detail: "\(action) \(from)->\(to) (\(why)) by=\(actor)",
                             data: EventData(action: action, from: from, to: to, actor: actor, command: "\(occasion): \(why)"),
                             instance: instance),
                       into: connection)
        }
        if backend.origin == .runtime {
            try connection.statement("UPDATE backends SET origin = 'config' WHERE id = ?").bind(.integer(backend.id)).run()
            try record("origin", from: "runtime", to: "config", why: "now declared by the configuration")
            differences.append(ConfigDifference(url: backend.url, field: .origin, config: "config", runtime: "runtime",
                                                winner: .config))
        }
        // One rule for every field: what the configuration declares (nothing: the default) wins
        // when it differs from what it declared last time; otherwise the registry's value stands.
        func reconcileField(_ field: ConfigDifference.Field, column: String, declared: String?, lastDeclared: String?,
                            current: String, defaultValue: String, value: (String) -> SQLValue) throws {
            if declared != lastDeclared {
                let target = declared ?? defaultValue
                guard target != current else { return }
                try connection.statement("UPDATE backends SET \(column) = ? WHERE id = ?")
                    .bind(value(target), .integer(backend.id)).run()
                try record(field.rawValue, from: current, to: target, why: "the configuration changed \(field.rawValue)")
                differences.append(ConfigDifference(url: backend.url, field: field, config: target, runtime: current,
                                                    winner: .config))
            } else if let declared, declared != current {
                differences.append(ConfigDifference(url: backend.url, field: field, config: declared, runtime: current,
                                                    winner: .runtime))
            }
        }
        try reconcileField(.weight, column: "weight", declared: declaration.weight.map(String.init),
                           lastDeclared: entry.configWeight.map(String.init), current: String(backend.weight),
                           defaultValue: "1", value: { .integer(Int64($0) ?? 1) })
        try reconcileField(.adminState, column: "admin_state", declared: declaration.adminState?.rawValue,
                           lastDeclared: entry.configAdminState?.rawValue, current: backend.adminState.rawValue,
                           defaultValue: AdminState.enabled.rawValue, value: { .text($0) })
        for setting in BackendSetting.allCases {
            let declared = declaration.settings[setting]
            let current = backend.settings[setting]
            guard let field = ConfigDifference.Field(rawValue: setting.rawValue) else { continue }
            if declared != entry.configSettings[setting] {
                // The configuration changed it (declared anew, changed, or left out: the default).
                let target = declared ?? setting.defaultValue
                guard target != current else { continue }
                try connection.statement("UPDATE backends SET \(setting.column) = ? WHERE id = ?")
                    .bind(.optional(target), .integer(backend.id)).run()
                try record(setting.rawValue, from: setting.text(current), to: setting.text(target),
                           why: "the configuration changed \(setting.rawValue)")
                differences.append(ConfigDifference(url: backend.url, field: field, config: setting.text(target),
                                                    runtime: setting.text(current), winner: .config))
            } else if let declared, declared != current {
                differences.append(ConfigDifference(url: backend.url, field: field, config: setting.text(declared),
                                                    runtime: setting.text(current), winner: .runtime))
            }
        }
        let configColumns = BackendSetting.allCases.map { "\($0.configColumn) = ?" }.joined(separator: ", ")
        try connection.statement("UPDATE backends SET config_weight = ?, config_admin_state = ?, \(configColumns) WHERE id = ?")
            .bind([.optional(declaration.weight.map(Int64.init)), .optional(declaration.adminState?.rawValue)]
                  + BackendSetting.allCases.map { .optional(declaration.settings[$0]) } + [.integer(backend.id)]).run()
        return differences
    }
}
