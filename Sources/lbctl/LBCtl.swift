import ArgumentParser
import Foundation
import LBStore
import LBText

/// `lbctl`, the operator's command line over the load balancer's SQLite database: it reads the
/// registry, the health history and the event log, changes the backend set, and writes the
/// post-incident report. It needs no running daemon; a running one notices changes within a second.
public struct LBCtl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lbctl",
        abstract: "Look at and change the load balancer's database.",
        discussion: """
            The database is --db PATH, else $LB_DB, else lb.sqlite3 in the working directory. Read \
            commands never create or change it.

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)

            Exit status: 0 success, 64 usage error, 65 malformed value or unknown backend, \
            66 database missing, unreadable or not a load balancer database, 70 SQLite failure, \
            74 disk full, 75 database locked too long, 77 database read-only.
            """,
        version: ProductVersion.current,
        subcommands: [
            BackendsCommand.self, AddCommand.self, RemoveCommand.self, EnableCommand.self, DrainCommand.self,
            DisableCommand.self, WeightCommand.self, SetCommand.self, EventsCommand.self, HistoryCommand.self, AuditCommand.self,
            WhyCommand.self, InstancesCommand.self, PruneCommand.self, InitCommand.self, MigrateCommand.self,
        ])

    @OptionGroup var database: DatabaseOptions
    // Given before the command as well as after it, as --db is.
    @OptionGroup var zone: TimeZoneOptions

    public init() {}

    /// Parses and runs the command; every failure becomes one line on stderr and its exit status.
    public static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Usage errors: ArgumentParser prints the message and the usage line, and exits 64.
            exit(withError: error)
        }
        do {
            try command.run()
        } catch {
            let failure: CLIError
            switch error {
            case let error as CLIError: failure = error
            case let error as StoreError: failure = CLIError(error, reading: false)
            default: exit(withError: error)
            }
            Terminal.writeError("lbctl: \(failure.message)")
            Foundation.exit(failure.status.rawValue)
        }
    }
}
