/// A setting that `off` turns off (`--admin off`, `access_log: off`), else holds a value. Its own
/// type so a flag that was not given (nil) is never mistaken for one given as `off`.
enum OffOr<Wrapped: Sendable & Equatable>: Sendable, Equatable {
    case off
    case on(Wrapped)

    /// The value, nil when off: what `ServerConfiguration` holds.
    var value: Wrapped? {
        if case .on(let value) = self { return value }
        return nil
    }

    init(_ value: Wrapped?) {
        self = value.map(OffOr.on) ?? .off
    }
}
