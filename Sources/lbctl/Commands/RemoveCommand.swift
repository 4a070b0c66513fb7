import ArgumentParser
import LBStore

/// `lbctl remove URL`: takes a backend out of the registry, keeping its history.
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a backend; its events and health history are kept.")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The backend's URL.") var url: String

    func run() throws {
        try BackendMutation.apply(to: url, database: database) { _ in nil } change: { store, backend, actor, command in
            try store.removeBackend(url: backend.url, actor: actor, command: command)
            return "removed \(backend.url) (its history is kept)"
        }
    }
}
