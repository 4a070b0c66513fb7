import ArgumentParser
import LBStore

/// `lbctl add URL [--weight N]`: registers a backend (or brings a removed one back).
struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a backend; a removed one comes back with its history.")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The backend, http[s]://HOST[:PORT][/PATH].") var url: String
    @Option(help: ArgumentHelp("Its share of the traffic relative to the others (0 or more).", valueName: "n"))
    var weight = 1

    func validate() throws {
        guard weight >= 0 else { throw ValidationError("--weight must be 0 or more, not \(weight)") }
    }

    func run() throws {
        let canonical = try BackendArgument.canonical(url)
        let store = try database.openForWriting()
        let added = try store.addBackend(url: canonical, weight: weight, origin: .runtime, actor: OperatorIdentity.current(),
                                         command: OperatorIdentity.commandLine())
        Terminal.write("added \(added.url) (weight \(added.weight), \(added.adminState.rawValue))\n")
    }
}
