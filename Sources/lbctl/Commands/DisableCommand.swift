import ArgumentParser
import LBStore

/// `lbctl disable URL`: sets the backend's admin state to `disabled`.
struct DisableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable",
        abstract: "Disable a backend: no traffic and no health checks.")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The backend's URL.") var url: String

    func run() throws {
        try AdminState.disabled.apply(to: url, database: database)
    }
}
