import ArgumentParser
import LBStore

/// `lbctl enable URL`: sets the backend's admin state to `enabled`.
struct EnableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable",
        abstract: "Put a backend back in service (it gets traffic when healthy).")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The backend's URL.") var url: String

    func run() throws {
        try AdminState.enabled.apply(to: url, database: database)
    }
}
