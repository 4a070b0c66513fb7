import CSQLite

/// Brings a connection's database to a schema version, checking first that the file is ours.
enum Migrator {
    /// Configures `connection` (WAL, foreign keys) and migrates it to `target`.
    ///
    /// Throws `.foreignDatabase` for a file that holds another application's data, `.tooNew` for a
    /// file from a newer version, `.notADatabase` for a file that is not SQLite at all.
    static func prepare(_ connection: SQLiteConnection, to target: Int = Schema.currentVersion) throws {
        // Reading the header is what reveals "file is not a database".
        let applicationID = Int32(truncatingIfNeeded: try connection.integerPragma("application_id"))
        let version = Int(try connection.integerPragma("user_version"))
        if applicationID != Schema.applicationID {
            let tables = try countUserTables(connection)
            if applicationID != 0 || version != 0 || tables > 0 {
                throw StoreError(.foreignDatabase,
                                 "\(connection.path) is an SQLite database of another application, not a load balancer database")
            }
        }
        if version > Schema.currentVersion {
            throw StoreError(.tooNew,
                             "\(connection.path) has schema version \(version), newer than this program's \(Schema.currentVersion); upgrade the program")
        }
        if connection.mode != .readOnly {
            try connection.execute("PRAGMA journal_mode=WAL")
        }
        try connection.execute("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL")
        guard version < target else { return }
        guard connection.mode != .readOnly else {
            throw StoreError(.readOnly,
                             "\(connection.path) has schema version \(version) and must be upgraded, but it is opened read-only")
        }
        try connection.transaction {
            // Re-read inside the write lock: another process may have migrated meanwhile.
            var current = Int(try connection.integerPragma("user_version"))
            while current < target {
                try connection.execute(Schema.migrations[current])
                current += 1
            }
            try connection.execute("PRAGMA user_version=\(current); PRAGMA application_id=\(Schema.applicationID)")
        }
    }

    private static func countUserTables(_ connection: SQLiteConnection) throws -> Int64 {
        let statement = try connection.sqliteStatement("SELECT count(*) FROM sqlite_master")
        defer { statement.reset() }
        _ = try statement.step()
        return statement.int64(0)
    }
}
