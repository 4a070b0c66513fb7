import LBStore

/// Everything a test can see in a database through a fresh connection, to prove that a failed
/// command changed nothing.
struct DatabaseSnapshot: Equatable {
    var backends: [Backend]
    var events: [Event]
    var schemaVersion: Int

    init(path: String) throws {
        let store = try Store(path: path, mode: .readOnly)
        backends = try store.backends(includeRemoved: true)
        events = try store.events(EventQuery())
        schemaVersion = try store.schemaVersion()
    }
}
