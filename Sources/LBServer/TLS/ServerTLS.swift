import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// TLS on the traffic listener: the certificates in use, swapped whole by a reload. Each new
/// connection takes the current ones for its handshake; connections already open keep theirs.
final class ServerTLS: Sendable {
    private let current: NIOLockedValueBox<ServerCertificates>

    /// Reads the certificates of `settings`; throws a `TLSLoadError` naming the bad file.
    init(_ settings: TLSSettings) throws(TLSLoadError) {
        current = NIOLockedValueBox(try ServerCertificates.load(settings))
    }

    /// The handler that terminates TLS on a new connection.
    func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: current.withLockedValue { $0.context })
    }

    /// Reads `settings` again; on a bad file throws and keeps the certificates in use.
    func reload(_ settings: TLSSettings) throws(TLSLoadError) {
        let loaded = try ServerCertificates.load(settings)
        current.withLockedValue { $0 = loaded }
    }

    /// The certificate files in use.
    var certificates: [CertificatePair] { current.withLockedValue { $0.entries.map(\.pair) } }
}
