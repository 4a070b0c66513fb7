import ArgumentParser
import LBStore

/// `lbctl init`: creates (or upgrades) the database, so backends can be added before the daemon
/// first starts. The only command that creates a file.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the database if it does not exist, or upgrade its schema.")

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let store = try database.openCreating()
        Terminal.write("database \(store.path) is ready (schema version \(try store.schemaVersion()))\n")
    }
}
