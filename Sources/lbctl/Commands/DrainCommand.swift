import ArgumentParser
import LBStore

/// `lbctl drain URL`: sets the backend's admin state to `drained`.
struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Drain a backend: no new requests, in-flight ones finish; still health-checked.")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The backend's URL.") var url: String

    func run() throws {
        try AdminState.drained.apply(to: url, database: database)
    }
}
