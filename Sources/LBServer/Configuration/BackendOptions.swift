import NIOCore

/// What the configuration file may say about one backend beyond its weight and admin state:
/// whether it is a backup, and its own limits. Nil limits fall back to the global settings.
struct BackendOptions: Sendable, Equatable {
    /// Used only when no primary backend can take the request.
    var backup = false
    /// Requests in flight to it at once; a backend at its limit is passed over like a busy one.
    var maxConnections: Int?
    var connectTimeout: TimeAmount?
    var responseTimeout: TimeAmount?
    /// For an `https://` backend: whether its certificate is verified. Off only when the file says
    /// so for this backend, and said loudly in the log.
    var tlsVerify = true
}
