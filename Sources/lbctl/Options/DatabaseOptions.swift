import ArgumentParser
import Foundation
import LBStore

/// `--db PATH|URL`, shared by every command, and how a command opens the database it names.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The database: an SQLite file, or a postgres://USER@HOST/DATABASE URL (password from PGPASSWORD, "
            + "a password_file or PGPASSFILE). Default: $LB_DB, else lb.sqlite3 in the working directory, else the "
            + "installed daemon's /var/lib/lb/lb.sqlite3.",
        valueName: "path|url"))
    var db: String?

    init() {}

    /// The options as `--db location` sets them, for a command that names its databases itself.
    init(db location: String) { db = location }

    /// The installed daemon's database (scripts/install, the .deb, the systemd unit).
    static let systemDatabase = "/var/lib/lb/lb.sqlite3"

    /// `--db`, else a non-empty `LB_DB`, else `lb.sqlite3` in the working directory (the daemon's
    /// default too) when there is one, else the installed daemon's database when there is that.
    var path: String {
        Self.resolve(db, environment: ProcessInfo.processInfo.environment, fileExists: FileManager.default.fileExists(atPath:))
    }

    /// The rule of `path`, with the environment and the file system given.
    static func resolve(_ db: String?, environment: [String: String], fileExists: (String) -> Bool) -> String {
        if let db { return db }
        if let fromEnvironment = environment["LB_DB"], !fromEnvironment.isEmpty { return fromEnvironment }
        if !fileExists("lb.sqlite3"), fileExists(systemDatabase) { return systemDatabase }
        return "lb.sqlite3"
    }

    /// Opens the file read-only: a read command never creates, migrates or changes it.
    func openForReading() throws(CLIError) -> Store { try open(.readOnly, reading: true) }

    /// Opens an existing file read-write (migrating an older schema, as the daemon would);
    /// a missing file is an error, never silently created.
    func openForWriting() throws(CLIError) -> Store { try open(.existing, reading: false) }

    /// Opens the file, creating and migrating it when needed (`lbctl init` only).
    func openCreating() throws(CLIError) -> Store { try open(.create, reading: false) }

    private func open(_ mode: Store.OpenMode, reading: Bool) throws(CLIError) -> Store {
        do {
            let location = try StoreLocation(parsing: path)
            let store = try Store(location: location, mode: mode)
            // A daemon whose file was deleted, renamed or replaced under it never sees this one.
            if case .file(let file) = location {
                for warning in RunningDaemonFiles.warnings(databasePath: file) { Terminal.writeError("lbctl: \(warning)") }
            }
            return store
        } catch let error as StoreError {
            throw CLIError(error, reading: reading)
        } catch {
            throw CLIError(.software, "\(path): \(error)")
        }
    }
}
