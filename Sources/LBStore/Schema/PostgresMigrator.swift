/// Brings a PostgreSQL database to the current schema, checking first that it is ours.
///
/// Several daemons may start at once against one database: the check and the migration run in
/// one transaction under an advisory lock, so exactly one of them migrates and the others find
/// the work done.
enum PostgresMigrator {
    /// The advisory lock's key: "LBS1", as SQLite's `application_id`.
    static let lockKey: Int64 = 0x4C42_5331

    /// Throws `.foreignDatabase` for a database that holds other tables and no `lb_schema`,
    /// `.tooNew` for one migrated by a newer program, and `.readOnly` when an old schema must be
    /// migrated over a read-only connection.
    /// Without `creating`, a database that has no schema yet is refused as missing, as a missing
    /// SQLite file is: only `lbctl init` and the daemon create one.
    static func prepare(_ connection: PostgresStoreConnection, creating: Bool) throws {
        if !creating, try currentVersion(connection) == nil {
            try check(nil, connection: connection)
            throw StoreError(.missing, "database \(connection.location) has no load balancer schema yet "
                             + "(lbctl --db URL init creates it)")
        }
        if connection.isReadOnly {
            let version = try currentVersion(connection)
            try check(version, connection: connection)
            if (version ?? 0) < PostgresSchema.currentVersion {
                throw StoreError(.readOnly, "\(connection.location) has schema version \(version ?? 0) and must be "
                                 + "upgraded, but it is opened read-only")
            }
            return
        }
        try connection.transaction {
            try connection.execute("SELECT count(*) FROM (SELECT pg_advisory_xact_lock(\(lockKey))) AS locked")
            let version = try currentVersion(connection)
            try check(version, connection: connection)
            var current = version ?? 0
            if version == nil {
                for statement in PostgresSchema.baseline { try connection.execute(statement) }
                current = PostgresSchema.baselineVersion
                try connection.statement("INSERT INTO lb_schema (id, application, version) VALUES (1, ?, ?)")
                    .bind(.text(PostgresSchema.application), .integer(Int64(current))).run()
            }
            while current < PostgresSchema.currentVersion {
                for statement in PostgresSchema.migrations[current - PostgresSchema.baselineVersion] {
                    try connection.execute(statement)
                }
                current += 1
            }
            if current != version {
                try connection.statement("UPDATE lb_schema SET version = ? WHERE id = 1").bind(.integer(Int64(current))).run()
            }
        }
    }

    /// The schema version, or nil for a database without `lb_schema`; throws `.foreignDatabase`
    /// when `lb_schema` names another application.
    private static func currentVersion(_ connection: PostgresStoreConnection) throws -> Int? {
        let exists = try connection.statement("SELECT to_regclass('lb_schema') IS NOT NULL")
        guard try exists.step(), exists.int64(0) == 1 else { return nil }
        let row = try connection.statement("SELECT application, version FROM lb_schema WHERE id = 1")
        guard try row.step() else { return nil }
        guard row.text(0) == PostgresSchema.application else {
            throw StoreError(.foreignDatabase, "\(connection.location) belongs to \(row.text(0)), not to a load balancer")
        }
        return row.int(1)
    }

    private static func check(_ version: Int?, connection: PostgresStoreConnection) throws {
        if let version, version > PostgresSchema.currentVersion {
            throw StoreError(.tooNew, "\(connection.location) has schema version \(version), newer than this program's "
                             + "\(PostgresSchema.currentVersion); upgrade the program")
        }
        if version == nil {
            let tables = try connection.statement("""
                SELECT count(*) FROM information_schema.tables
                WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                """)
            _ = try tables.step()
            if tables.int64(0) > 0 {
                throw StoreError(.foreignDatabase, "\(connection.location) holds another application's tables, "
                                 + "not a load balancer database")
            }
        }
    }
}
