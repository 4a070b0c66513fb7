import ArgumentParser
import LBStore

/// `lbctl migrate --from FILE --to URL`: brings a single-node database's registry and history
/// into a fleet's PostgreSQL database, once, with times and ids as they were.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a single-node SQLite database into a fleet's PostgreSQL database.",
        discussion: """
            Copies the registry, the event log, the health history, the instances and the saved \
            state in one transaction, keeping every time and id, so that why, backends --at, audit \
            and history answer on the fleet's database as they did on the file. The file is brought \
            to the current schema first, as any write command would. The target must be empty (no \
            daemon of the fleet has started on it yet) unless --replace, which deletes what it holds \
            first and is refused while a daemon of the fleet is running. Stop the daemon that uses \
            the file before copying it.
            """)

    @Option(help: ArgumentHelp("The single-node database to copy.", valueName: "file")) var from: String
    @Option(help: ArgumentHelp("The fleet's database, postgres://USER@HOST/DATABASE (created there if empty).",
                               valueName: "url")) var to: String
    @Flag(help: "Delete what the target holds before copying into it.") var replace = false

    func run() throws {
        let target: StoreLocation
        do {
            target = try StoreLocation(parsing: to)
        } catch {
            throw CLIError.malformed(error.message)
        }
        guard case .postgres = target else {
            throw CLIError.malformed("--to \(to): the fleet's database is a postgres:// URL")
        }
        if case .postgres = try? StoreLocation(parsing: from) {
            throw CLIError.malformed("--from \(from): the database to copy is an SQLite file")
        }
        let source = try DatabaseOptions(db: from).openForWriting()
        let fleet = try DatabaseOptions(db: to).openCreating()
        let copied: [CopiedTable]
        do {
            copied = try fleet.copyRecords(from: source, replacing: replace)
        } catch let error as StoreError {
            throw CLIError(error, reading: false)
        }
        let rows = Dictionary(copied.map { ($0.table, $0.rows) }, uniquingKeysWith: +)
        Terminal.write("""
            copied \(source.path) into \(fleet.path): \(rows["backends"] ?? 0) backends, \(rows["events"] ?? 0) events, \
            \(rows["health_runs"] ?? 0) health runs, \(rows["instances"] ?? 0) instances, \
            \(rows["backend_health"] ?? 0) instance views
            start the fleet's daemons with --db \(fleet.path)

            """)
    }
}
