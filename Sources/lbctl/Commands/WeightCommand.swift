import ArgumentParser
import LBStore

/// `lbctl weight URL N`: sets a backend's share of the traffic.
struct WeightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weight", abstract: "Set a backend's weight (0 or more).")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The backend's URL.") var url: String
    @Argument(help: "The new weight.") var weight: Int

    func validate() throws {
        guard weight >= 0 else { throw ValidationError("the weight must be 0 or more, not \(weight)") }
    }

    func run() throws {
        try BackendMutation.apply(to: url, database: database) { backend in
            backend.weight == weight ? "\(backend.url) already has weight \(weight); nothing changed" : nil
        } change: { store, backend, actor, command in
            try store.setWeight(weight, url: backend.url, actor: actor, command: command)
            return "\(backend.url): weight \(backend.weight) -> \(weight)"
        }
    }
}
