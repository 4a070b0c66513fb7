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

    /// Makes `certificates` (a reload's, read with `ServerCertificates.load`) the ones new
    /// handshakes use.
    func use(_ certificates: ServerCertificates) {
        current.withLockedValue { $0 = certificates }
    }

    /// The certificate files in use.
    var certificates: [CertificatePair] { current.withLockedValue { $0.entries.map(\.pair) } }
}
