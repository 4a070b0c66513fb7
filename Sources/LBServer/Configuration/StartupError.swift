/// Why `lbserver` could not start once its configuration was accepted: the database, a listener or
/// the access log. Printed as one line; exit status 1.
struct StartupError: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable {
        /// The database cannot be opened, read or written.
        case database
        /// The traffic listener cannot bind.
        case listener
        /// The admin listener cannot bind.
        case adminListener
        /// The access log cannot be opened.
        case accessLog
        /// A TLS certificate, key or CA file cannot be used.
        case tls
    }

    let kind: Kind
    /// What went wrong and with what (the path, the address), for the operator.
    let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    var description: String { message }
}
