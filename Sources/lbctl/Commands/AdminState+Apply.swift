import LBStore

extension AdminState {
    /// Sets this state on the backend `url` names, for `enable`, `drain` and `disable`.
    func apply(to url: String, database: DatabaseOptions) throws {
        try BackendMutation.apply(to: url, database: database) { backend in
            backend.adminState == self ? "\(backend.url) is already \(rawValue); nothing changed" : nil
        } change: { store, backend, actor, command in
            try store.setAdminState(self, url: backend.url, actor: actor, command: command)
            return "\(backend.url): \(backend.adminState.rawValue) -> \(rawValue)"
        }
    }
}
