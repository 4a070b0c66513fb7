import LBStore
import NIOCore

/// What the configuration file declares about one backend beyond its weight and admin state:
/// whether it is a backup, and its own limits. Nil is not declared. The registry keeps them under
/// the configuration-versus-runtime rule (`Store.reconcile`), so `lbctl set` can change them too.
struct BackendOptions: Sendable, Equatable {
    /// Used only when no primary backend can take the request.
    var backup: Bool?
    /// Requests in flight to it at once; a backend at its limit is passed over like a busy one.
    var maxConnections: Int?
    var connectTimeout: TimeAmount?
    var responseTimeout: TimeAmount?
    /// For an `https://` backend: whether its certificate is verified. Off only when the file says
    /// so for this backend, and said loudly in the log.
    var tlsVerify: Bool?

    /// The declared settings as the registry stores them.
    var declaredSettings: [BackendSetting: Int64] {
        var settings: [BackendSetting: Int64] = [:]
        settings[.backup] = backup.map { $0 ? 1 : 0 }
        settings[.maxConnections] = maxConnections.map(Int64.init)
        settings[.connectTimeout] = connectTimeout.map { $0.nanoseconds / 1_000_000 }
        settings[.responseTimeout] = responseTimeout.map { $0.nanoseconds / 1_000_000 }
        settings[.tlsVerify] = tlsVerify.map { $0 ? 1 : 0 }
        return settings
    }
}
