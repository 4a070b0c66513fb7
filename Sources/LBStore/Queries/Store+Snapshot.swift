extension Store {
    /// Makes this file's registry the same as `backends` (a fleet's, read from PostgreSQL), by id:
    /// the local copy a daemon restarts from when PostgreSQL is away, and what the outbox's
    /// records point at. Health stays as this file has it (it is this daemon's own view); a backend
    /// new here starts with the health given.
    public func snapshotRegistry(_ backends: [Backend]) throws {
        try withConnection { connection in
            try connection.transaction {
                let settingColumns = BackendSetting.allCases.map(\.column)
                let upsert = try connection.statement("""
                    INSERT INTO backends (id, url, weight, admin_state, health, health_since, added_at, removed_at, origin,
                        \(settingColumns.joined(separator: ", ")))
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, \(settingColumns.map { _ in "?" }.joined(separator: ", ")))
                    ON CONFLICT (id) DO UPDATE SET url = excluded.url, weight = excluded.weight,
                        admin_state = excluded.admin_state, added_at = excluded.added_at,
                        removed_at = excluded.removed_at, origin = excluded.origin,
                        \(settingColumns.map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
                    """)
                for backend in backends {
                    try upsert.bind([.integer(backend.id), .text(backend.url), .integer(Int64(backend.weight)),
                                     .text(backend.adminState.rawValue), .text(Health.unknown.rawValue),
                                     .integer(Timestamp.now().milliseconds), .integer(backend.addedAt.milliseconds),
                                     .optional(backend.removedAt?.milliseconds), .text(backend.origin.rawValue)]
                                    + BackendSetting.allCases.map { .optional(backend.settings[$0]) }).run()
                    upsert.reset()
                }
                // What the fleet no longer lists at all is marked removed here too.
                let known = Set(backends.map(\.id))
                let local = try connection.statement("SELECT id FROM backends WHERE removed_at IS NULL")
                var gone: [Int64] = []
                while try local.step() {
                    if !known.contains(local.int64(0)) { gone.append(local.int64(0)) }
                }
                for id in gone {
                    try connection.statement("UPDATE backends SET removed_at = ? WHERE id = ?")
                        .bind(.integer(Timestamp.now().milliseconds), .integer(id)).run()
                }
            }
        }
    }
}
