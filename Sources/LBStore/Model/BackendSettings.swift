/// A backend's own settings beyond its weight and admin state: whether it is a backup, and its own
/// limits. A nil limit means the daemon's global setting (or, for `maxConnections`, no limit).
public struct BackendSettings: Hashable, Sendable {
    /// Used only when no primary backend can take the request.
    public var backup: Bool
    /// Requests in flight to it at once; a backend at its limit is passed over like a busy one.
    public var maxConnections: Int?
    /// Its own `--connect-timeout`, in milliseconds.
    public var connectTimeoutMilliseconds: Int64?
    /// Its own `--response-timeout`, in milliseconds.
    public var responseTimeoutMilliseconds: Int64?
    /// For an `https://` backend: whether its certificate is verified.
    public var tlsVerify: Bool

    public init(backup: Bool = false, maxConnections: Int? = nil, connectTimeoutMilliseconds: Int64? = nil,
                responseTimeoutMilliseconds: Int64? = nil, tlsVerify: Bool = true) {
        self.backup = backup
        self.maxConnections = maxConnections
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.responseTimeoutMilliseconds = responseTimeoutMilliseconds
        self.tlsVerify = tlsVerify
    }

    /// The value of one setting as the registry stores it (see `BackendSetting.stored`).
    public subscript(setting: BackendSetting) -> Int64? {
        get {
            switch setting {
            case .backup: return backup ? 1 : 0
            case .maxConnections: return maxConnections.map(Int64.init)
            case .connectTimeout: return connectTimeoutMilliseconds
            case .responseTimeout: return responseTimeoutMilliseconds
            case .tlsVerify: return tlsVerify ? 1 : 0
            }
        }
        set {
            switch setting {
            case .backup: backup = (newValue ?? 0) != 0
            case .maxConnections: maxConnections = newValue.map { Int($0) }
            case .connectTimeout: connectTimeoutMilliseconds = newValue
            case .responseTimeout: responseTimeoutMilliseconds = newValue
            case .tlsVerify: tlsVerify = (newValue ?? 1) != 0
            }
        }
    }
}
