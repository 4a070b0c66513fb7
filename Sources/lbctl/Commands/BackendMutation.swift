import LBStore

/// What the commands that change one live backend share: open the database for writing, find
/// the backend, leave alone a change that would change nothing, apply it in the operator's name
/// (the store writes the `admin_change` event, with the command line, in the same transaction), and say what happened.
enum BackendMutation {
    /// - Parameters:
    ///   - unchanged: the message to print when the backend already is as asked, else nil.
    ///   - change: applies the change for the given operator (name, then command line) and returns
    ///     the message to print.
    static func apply(to url: String, database: DatabaseOptions, unchanged: (Backend) -> String?,
                      change: (Store, Backend, String, String) throws -> String) throws {
        let store = try database.openForWriting()
        let backend = try BackendArgument.resolve(url, in: store, includeRemoved: false)
        if let message = unchanged(backend) {
            Terminal.write(message + "\n")
            return
        }
        Terminal.write(try change(store, backend, OperatorIdentity.current(), OperatorIdentity.commandLine()) + "\n")
    }
}
