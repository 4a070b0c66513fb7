#if canImport(Glibc)
import Glibc
#endif
import LBStore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// How the proxy speaks TLS to `https://` backends: the CA that verifies them (the system's trust
/// store unless `--backend-ca`), and a client certificate for backends that ask for one.
struct BackendTLSSettings: Sendable, Equatable {
    var ca: String?
    var certificate: String?
    var key: String?
}

/// TLS to `https://` backends: one client context for every connection (pool and health checks),
/// full verification of the backend's chain and of its name (the URL's host, sent as SNI unless
/// it is an IP address), TLS 1.2 or 1.3. A reload reads the files again (`load`, `use`):
/// connections opened from then on use the new contexts, open ones keep theirs.
final class BackendTLS: Sendable {
    /// The client contexts made from the files of one `BackendTLSSettings`.
    struct Contexts: Sendable {
        var context: NIOSSLContext
        /// For the backends the configuration file says not to verify (`tls_verify: false`).
        var unverified: NIOSSLContext
        /// Why the system's trust store is not in use, when it could not be read.
        var trustStoreProblem: String?
    }

    /// Read once per new TLS connection to a backend, never per request.
    private let contexts: NIOLockedValueBox<Contexts>

    init(_ settings: BackendTLSSettings) throws(TLSLoadError) {
        contexts = NIOLockedValueBox(try Self.load(settings))
    }

    /// Makes `contexts` (a reload's) the ones the connections opened from now on use.
    func use(_ contexts: Contexts) {
        self.contexts.withLockedValue { $0 = contexts }
    }

    /// Why the system's trust store is not in use, when it could not be read.
    var trustStoreProblem: String? { contexts.withLockedValue { $0.trustStoreProblem } }

    /// Reads the CA, certificate and key files of `settings`; throws a `TLSLoadError` naming the
    /// file that cannot be used. Blocking: call off the event loops.
    static func load(_ settings: BackendTLSSettings) throws(TLSLoadError) -> Contexts {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        configuration.applicationProtocols = ["http/1.1"]
        if let ca = settings.ca {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(ca)
            } catch {
                throw TLSLoadError(file: ca, what: "backend CA", reason: ServerCertificates.reason(error, path: ca))
            }
            guard !roots.isEmpty else { throw TLSLoadError(file: ca, what: "backend CA", reason: "holds no PEM certificate") }
            configuration.trustRoots = .certificates(roots)
        }
        guard (settings.certificate == nil) == (settings.key == nil) else {
            throw TLSLoadError(file: settings.certificate ?? settings.key ?? "", what: "backend client certificate",
                               reason: "needs both --backend-cert and --backend-key")
        }
        if let certificate = settings.certificate, let key = settings.key {
            let pair = try ServerCertificates.loadPair(CertificatePair(certificate: certificate, key: key))
            configuration.certificateChain = pair.chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(pair.key)
        }
        var unchecked = configuration
        unchecked.certificateVerification = .none
        unchecked.trustRoots = .certificates([])
        let unverified: NIOSSLContext
        do {
            unverified = try NIOSSLContext(configuration: unchecked)
        } catch {
            throw TLSLoadError(file: settings.certificate ?? "", what: "backend client certificate",
                               reason: "cannot be used for TLS: \(error)")
        }
        do {
            return Contexts(context: try NIOSSLContext(configuration: configuration), unverified: unverified)
        } catch where settings.ca == nil {
            // No system trust store (no ca-certificates): the daemon still starts, and https
            // backends fail verification as signed by an unknown CA until one is given.
            configuration.trustRoots = .certificates([])
            do {
                return Contexts(context: try NIOSSLContext(configuration: configuration), unverified: unverified,
                                trustStoreProblem: "no system trust store could be read (\(error)); "
                                    + "https backends verify only with --backend-ca")
            } catch {
                throw TLSLoadError(file: "the system trust store", what: "backend CA", reason: "cannot be used for TLS: \(error)")
            }
        } catch {
            throw TLSLoadError(file: settings.ca ?? "", what: "backend CA", reason: "cannot be used for TLS: \(error)")
        }
    }

    /// Adds the TLS client and a handshake waiter to a new connection to `url`, first in its
    /// pipeline; the returned future completes when the handshake did, or fails with why it did
    /// not, within `timeout`. A connection is handed over only after its handshake: a backend
    /// that refuses it has been sent nothing, so the request may go elsewhere.
    func addHandlers(to channel: Channel, for url: BackendURL, timeout: TimeAmount, verify: Bool = true) throws
        -> EventLoopFuture<Void> {
        let name = url.host.contains(":") || url.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : url.host
        let notes = VerificationNotes()
        let waiter = HandshakeWaiter(promise: channel.eventLoop.makePromise(), timeout: timeout, notes: notes)
        // BoringSSL's own verification decides; the callback only notes why a certificate failed.
        let contexts = self.contexts.withLockedValue { $0 }
        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(
            context: verify ? contexts.context : contexts.unverified, serverHostname: name,
            verificationCallback: { result, certificate in
                if result == .failed { notes.failed(certificate) }
                return result
            }))
        try channel.pipeline.syncOperations.addHandler(waiter)
        return waiter.promise.futureResult
    }
}

extension BackendRuntime {
    /// Opens a connection to this backend with `bootstrap` (its options and connect timeout set):
    /// the channel gets, for an `https://` backend, the TLS client first and then what
    /// `initialize` adds, and is handed over once its handshake is done (at once for plain HTTP)
    /// within `handshakeTimeout`, or closed if the handshake failed. The proxy's pool and the
    /// health checks both connect through here.
    func open(with bootstrap: ClientBootstrap, on eventLoop: EventLoop, tls: BackendTLS?, handshakeTimeout: TimeAmount,
              initialize: @escaping @Sendable (Channel) throws -> Void) -> EventLoopFuture<Channel> {
        let tls = url.isTLS ? tls : nil
        let url = self.url
        let verify = verifiesTLS
        let handshake = eventLoop.makePromise(of: Void.self)
        let initialized = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try tls.addHandlers(to: channel, for: url, timeout: handshakeTimeout, verify: verify)
                        .cascade(to: handshake)
                } else {
                    handshake.succeed()
                }
                try initialize(channel)
            }
        }
        let tcp = socketAddress.map { initialized.connect(to: $0) } ?? initialized.connect(host: url.host, port: url.port)
        tcp.whenFailure { handshake.fail($0) }
        return tcp.flatMap { channel in
            handshake.futureResult.map { channel }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }
}

/// Completes its promise when the TLS handshake completes, and takes itself out of the pipeline;
/// fails it with the handshake's error, a close, or `TLSHandshakeTimeout` past `timeout`.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<Void>
    private let timeout: TimeAmount
    private let notes: VerificationNotes
    private var timer: Scheduled<Void>?

    init(promise: EventLoopPromise<Void>, timeout: TimeAmount, notes: VerificationNotes) {
        self.promise = promise
        self.timeout = timeout
        self.notes = notes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let promise = self.promise
        let channel = context.channel
        let timeout = self.timeout
        timer = context.eventLoop.scheduleTask(in: timeout) {
            promise.fail(TLSHandshakeTimeout(timeout: timeout))
            channel.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            promise.succeed(())
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        timer?.cancel()
        promise.fail(notes.reason.map { TLSVerificationFailure(reason: $0) } ?? error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        promise.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}

/// Why the backend's chain failed verification, from the first certificate BoringSSL refused:
/// out of its validity period, or (in it) not leading to a trusted CA. Used on the event loop
/// of its one connection only.
final class VerificationNotes {
    private(set) var reason: String?

    func failed(_ certificate: NIOSSLCertificate) {
        guard reason == nil else { return }
        let now = time(nil)
        if certificate.notValidAfter < now {
            reason = "certificate expired"
        } else if certificate.notValidBefore > now {
            reason = "certificate not yet valid"
        } else {
            reason = "unknown CA (the chain does not lead to a trusted CA)"
        }
    }
}

/// The backend's certificate did not verify, and why.
struct TLSVerificationFailure: Error {
    var reason: String
}

/// A backend that accepted the connection but did not finish the TLS handshake in time.
struct TLSHandshakeTimeout: Error {
    var timeout: TimeAmount
}

/// A failed TLS handshake with a backend, in the words an operator reads in `lbctl why`.
enum TLSFailureDescription {
    static func describe(_ error: NIOSSLExtraError) -> String {
        if "\(error)".contains("failedToValidateHostname") {
            return "TLS handshake failed: the certificate is not issued for this host"
        }
        return "TLS handshake failed: \(error)"
    }

    static func describe(_ error: NIOSSLError) -> String {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS handshake failed: the backend's certificate did not verify (unknown CA, expired, or not "
                + "issued for this host)"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") {
            return "TLS handshake failed: the backend does not speak TLS on this port"
        }
        if let alert = text.range(of: "TLSV1_ALERT_") ?? text.range(of: "SSLV3_ALERT_") {
            let name = text[alert.upperBound...].prefix { $0.isLetter || $0 == "_" }
            return "TLS handshake failed: the backend refused it (\(name.lowercased().replacingOccurrences(of: "_", with: " ")))"
        }
        if case .uncleanShutdown = error { return "TLS connection closed without a close_notify" }
        return "TLS handshake failed: \(text)"
    }
}
