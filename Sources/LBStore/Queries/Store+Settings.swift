extension Store {
    /// One setting an operator changed on a backend, as `setSettings` made it.
    public struct SettingChange: Hashable, Sendable {
        public var setting: BackendSetting
        public var from: Int64?
        public var to: Int64?

        /// `backup false->true`, as the event's detail and the command's output say it.
        public var description: String {
            "\(setting.rawValue) \(setting.text(from))->\(setting.text(to))"
        }
    }

    /// Sets a live backend's per-backend settings, in one transaction that also writes one
    /// `admin_change` event per setting changed (its action the setting's name, with `from` and
    /// `to`), naming `actor`. A setting that already has the value asked for is left alone;
    /// returns what changed. The change holds until the configuration changes that same setting.
    ///
    /// Throws `.unknownBackend` for a backend not in the registry, `.invalidValue` for
    /// `tls_verify` on a plain-HTTP backend.
    @discardableResult
    public func setSettings(_ values: [(BackendSetting, Int64?)], url: String, actor: String, command: String? = nil,
                            at now: Timestamp = .now()) throws -> [SettingChange] {
        try withConnection { connection in
            try connection.transaction {
                guard let backend = try Store.backend(url: url, in: connection), !backend.isRemoved else {
                    throw StoreError(.unknownBackend, "no backend \(url) in the registry")
                }
                var settings = backend.settings
                var changes: [SettingChange] = []
                for (setting, value) in values where settings[setting] != value {
                    if setting == .tlsVerify, !url.hasPrefix("https://") {
                        throw StoreError(.invalidValue, "tls_verify is for https:// backends; \(url) is plain HTTP")
                    }
                    changes.append(SettingChange(setting: setting, from: settings[setting], to: value))
                    settings[setting] = value
                }
                for change in changes {
                    try connection.statement("UPDATE backends SET \(change.setting.column) = ? WHERE id = ?")
                        .bind(.optional(change.to), .integer(backend.id)).run()
                    try Store.insert(Event(at: now, kind: .adminChange, backendID: backend.id,
                                           detail: "\(change.description) by=\(actor)",
                                           data: EventData(action: change.setting.rawValue,
                                                           from: change.setting.text(change.from),
                                                           to: change.setting.text(change.to),
                                                           actor: actor, command: command)),
                                     into: connection)
                }
                return changes
            }
        }
    }

    /// `SET` assignments (with `?` parameters, and their values in order) that give every setting
    /// its declared value, else its default, and record the declarations: a backend added or
    /// brought back starts from these.
    static func settingsAssignments(declared: [BackendSetting: Int64]) -> (sql: String, values: [SQLValue]) {
        let sql = BackendSetting.allCases.map { "\($0.column) = ?, \($0.configColumn) = ?" }.joined(separator: ", ")
        let values = BackendSetting.allCases.flatMap { setting -> [SQLValue] in
            [.optional(declared[setting] ?? setting.defaultValue), .optional(declared[setting])]
        }
        return (sql, values)
    }

    /// The settings an add sets other than their defaults, for its event's `settings`.
    static func nonDefaultSettings(_ settings: BackendSettings) -> [String: String]? {
        let named = BackendSetting.allCases.filter { settings[$0] != $0.defaultValue }
            .map { ($0.rawValue, $0.text(settings[$0])) }
        return named.isEmpty ? nil : Dictionary(uniqueKeysWithValues: named)
    }
}
