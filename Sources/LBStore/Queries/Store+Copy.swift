/// Rows `Store.copyRecords` copied into one table.
public struct CopiedTable: Sendable, Equatable {
    public var table: String
    public var rows: Int
}

extension Store {
    /// The tables a copy carries, parents first, each in the order its rows were written.
    private static let copiedTables: [(name: String, order: String)] = [
        ("backends", "id"), ("events", "id"), ("health_runs", "id"), ("instances", "name"),
        ("backend_health", "backend_id, instance"),
    ]

    /// Rows sent in one INSERT, each column as one array parameter.
    static let copyRowsPerStatement = 10_000

    /// Copies everything a single-node database (`source`, an SQLite file) holds into this store
    /// (a fleet's PostgreSQL database), in one transaction: the registry, the event log, the
    /// health history, the instances, each instance's view and the balancer's saved state, with
    /// their ids, so that times and the order of ids are as they were (`lbctl migrate`).
    ///
    /// Refuses (`.invalidValue`) a target that holds records unless `replacing`, and even then one
    /// that a running daemon uses; refuses a source whose daemon is running, as what it records
    /// after the copy would stay behind. With `replacing`, the target's records are deleted first,
    /// in the same transaction.
    public func copyRecords(from source: Store, replacing: Bool, now: Timestamp = .now()) throws -> [CopiedTable] {
        guard dialect == .postgres, source.dialect == .sqlite else {
            throw StoreError(.invalidValue, "a copy goes from an SQLite file into a PostgreSQL database")
        }
        if let running = try source.instances().first(where: { $0.state(at: now) == .running }) {
            throw StoreError(.invalidValue, "lbserver \(running.identity.name) (pid \(running.identity.pid)) is running on "
                             + "\(source.path): stop it first, or what it records after the copy stays behind")
        }
        let targetInstances = try instances()
        let copied = try source.withConnection { from in
            let from = from as! SQLiteConnection
            return try withConnection { to in
                let to = to as! PostgresStoreConnection
                return try to.transaction {
                    try Self.prepareTarget(to, instances: targetInstances, replacing: replacing, now: now)
                    var copied: [CopiedTable] = []
                    for table in Self.copiedTables {
                        copied.append(CopiedTable(table: table.name,
                                                  rows: try Self.copy(table.name, orderedBy: table.order, from: from, to: to)))
                    }
                    try Self.copyBalancerState(from: from, to: to)
                    // Ids were given: the identity sequences continue after the highest.
                    for table in ["backends", "events", "health_runs"] {
                        try to.execute("""
                            SELECT setval(pg_get_serial_sequence('\(table)', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL)
                            FROM \(table)
                            """)
                    }
                    return copied
                }
            }
        }
        // Fresh statistics for the planner: a copy of millions of rows is otherwise planned on
        // the empty tables' until autovacuum comes round.
        try withConnection { to in try to.execute("ANALYZE") }
        return copied
    }

    /// Checks that the target may take the copy, and with `replacing` empties it.
    private static func prepareTarget(_ to: any Connection, instances: [Instance], replacing: Bool,
                                      now: Timestamp) throws {
        var held: [String] = []
        for table in ["backends", "events", "health_runs", "instances"] {
            let statement = try to.statement("SELECT count(*) FROM \(table)")
            if try statement.step(), statement.int64(0) > 0 { held.append("\(statement.int64(0)) \(table)") }
        }
        guard !held.isEmpty else { return }
        guard replacing else {
            throw StoreError(.invalidValue, "\(to.location) already holds records (\(held.joined(separator: ", "))): "
                             + "a copy goes into an empty database, or replaces everything with --replace")
        }
        if let running = instances.first(where: { $0.state(at: now) == .running }) {
            throw StoreError(.invalidValue, "lbserver \(running.identity.name) on \(running.identity.host) is running on "
                             + "\(to.location): stop every daemon of the fleet before replacing its records")
        }
        try to.execute("TRUNCATE backend_health, health_runs, events, backends, instances")
    }

    /// Copies one table's rows in `order`, in the columns both databases have (a generated column,
    /// such as PostgreSQL's `events.action`, is computed again), each column sent as one array
    /// parameter per batch. Returns the number of rows.
    private static func copy(_ table: String, orderedBy order: String, from: SQLiteConnection,
                             to: PostgresStoreConnection) throws -> Int {
        let sourceColumns = Set(try columns(of: table, in: from).map(\.name))
        let shared = try columns(of: table, in: to).filter { sourceColumns.contains($0.name) }
        let list = shared.map(\.name).joined(separator: ", ")
        let read = try from.sqliteStatement("SELECT \(list) FROM \(table) ORDER BY \(order)")
        func empty() throws -> [ColumnArray] {
            try shared.map { column in
                guard let type = ColumnArray.ElementType(columnType: column.type) else {
                    throw StoreError(.invalidValue, "cannot copy \(table).\(column.name), of type \(column.type)")
                }
                return ColumnArray(type, name: column.name, capacity: copyRowsPerStatement)
            }
        }
        var batch = try empty()
        let insert = "INSERT INTO \(table) (\(list)) SELECT * FROM \(ColumnArray.unnest(batch))"
        var rows = 0
        func flush() throws {
            guard batch.first?.count ?? 0 > 0 else { return }
            try to.run(insert, columns: batch)
            batch = try empty()
        }
        while try read.step() {
            for column in batch.indices { try batch[column].append(read.value(Int32(column))) }
            rows += 1
            if batch[0].count == copyRowsPerStatement { try flush() }
        }
        try flush()
        return rows
    }

    /// The balancer's saved state (round-robin cursor, last start and clean stop, saved time);
    /// the registry's version is the target's own and moved with the copied backends.
    private static func copyBalancerState(from: SQLiteConnection, to: any Connection) throws {
        let read = try from.sqliteStatement("SELECT cursor, last_start, last_clean_stop, saved_at FROM balancer_state WHERE id = 1")
        guard try read.step() else { return }
        try to.statement("UPDATE balancer_state SET cursor = ?, last_start = ?, last_clean_stop = ?, saved_at = ? WHERE id = 1")
            .bind((0..<4).map { read.value($0) }).run()
    }

    /// A table's stored columns, in their order, with their types: those a row may be given
    /// values for.
    private static func columns(of table: String, in connection: any Connection) throws -> [(name: String, type: String)] {
        let statement: any Statement
        switch connection.dialect {
        case .sqlite:
            statement = try connection.statement("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
        case .postgres:
            statement = try connection.statement("""
                SELECT column_name, data_type FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = ? AND is_generated = 'NEVER'
                ORDER BY ordinal_position
                """)
        }
        try statement.bind(.text(table))
        var columns: [(name: String, type: String)] = []
        while try statement.step() { columns.append((statement.text(0), statement.text(1).lowercased())) }
        return columns
    }
}
