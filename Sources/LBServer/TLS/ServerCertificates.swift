#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOSSL

/// The traffic listener's certificates, read and checked: one `NIOSSLContext` that serves the
/// default certificate (the first) and, through its server-name callback, the certificate whose
/// names match the name a client asks for (SNI): an exact DNS name first, then a wildcard
/// (`*.example.com` covers one label). Immutable: a reload reads a new one
/// (`ServerTLS.reload`), and connections already open keep the one they started with.
struct ServerCertificates: Sendable {
    /// One certificate as loaded.
    struct Entry: Sendable {
        var pair: CertificatePair
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        /// The DNS names it serves, lowercased (`*.example.com` for a wildcard).
        var names: [String]
    }

    let entries: [Entry]
    let context: NIOSSLContext

    /// TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3's are fixed by BoringSSL).
    static let cipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// What ALPN offers, HTTP/2 first.
    static let applicationProtocols = ["h2", "http/1.1"]

    /// Reads every certificate and key of `settings` (and the client CA); throws a
    /// `TLSLoadError` that names the file and says what is wrong with it.
    static func load(_ settings: TLSSettings) throws(TLSLoadError) -> ServerCertificates {
        precondition(settings.isEnabled, "no certificate to load")
        var entries: [Entry] = []
        for pair in settings.certificates {
            entries.append(try loadPair(pair))
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: entries[0].chain.map { .certificate($0) }, privateKey: .privateKey(entries[0].key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuites = cipherSuites
        configuration.renegotiationSupport = .none
        configuration.applicationProtocols = applicationProtocols
        if let clientCA = settings.clientCA {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(clientCA)
            } catch {
                throw TLSLoadError(file: clientCA, what: "client CA", reason: Self.reason(error, path: clientCA))
            }
            guard !roots.isEmpty else {
                throw TLSLoadError(file: clientCA, what: "client CA", reason: "holds no PEM certificate")
            }
            // Required and verified against these roots only; no host name to check on a client.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(roots)
            configuration.sendCANameList = true
        }
        if entries.count > 1 {
            let choices = entries
            configuration.sslContextCallback = { values, promise in
                guard let name = values.serverHostname, let entry = Self.entry(for: name, in: choices),
                      entry.pair != choices[0].pair else {
                    promise.succeed(.noChanges)
                    return
                }
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = entry.chain.map { .certificate($0) }
                override.privateKey = .privateKey(entry.key)
                promise.succeed(override)
            }
        }
        do {
            return ServerCertificates(entries: entries, context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw TLSLoadError(file: settings.certificates[0].certificate, what: "certificate",
                               reason: "cannot be used for TLS: \(error)")
        }
    }

    /// The certificate that serves `serverName`: one naming it exactly, else one whose wildcard
    /// covers it; nil for the default.
    static func entry(for serverName: String, in entries: [Entry]) -> Entry? {
        let name = serverName.lowercased()
        if let exact = entries.first(where: { $0.names.contains(name) }) { return exact }
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return nil }
        let wildcard = "*" + name[dot...]
        return entries.first { $0.names.contains(wildcard) }
    }

    static func loadPair(_ pair: CertificatePair) throws(TLSLoadError) -> Entry {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(pair.certificate)
        } catch {
            throw TLSLoadError(file: pair.certificate, what: "certificate", reason: Self.reason(error, path: pair.certificate))
        }
        guard let leaf = chain.first else {
            throw TLSLoadError(file: pair.certificate, what: "certificate", reason: "holds no PEM certificate")
        }
        try checkOwnerOnly(pair.key)
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: pair.key, format: .pem)
        } catch {
            throw TLSLoadError(file: pair.key, what: "key", reason: Self.reason(error, path: pair.key))
        }
        // BoringSSL refuses a key that is not the certificate's when a context takes both.
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                          privateKey: .privateKey(key)))
        } catch {
            throw TLSLoadError(file: pair.key, what: "key", reason: "is not the key of \(pair.certificate)")
        }
        return Entry(pair: pair, chain: chain, key: key, names: Self.names(of: leaf))
    }

    /// A key file others can read is refused: a key is secret to the daemon's user (and group,
    /// as Debian's `ssl-cert` group has it).
    private static func checkOwnerOnly(_ path: String) throws(TLSLoadError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw TLSLoadError(file: path, what: "key", reason: errno == ENOENT ? "no such file" : "cannot be read")
        }
        if status.st_mode & 0o007 != 0 {
            let mode = String(status.st_mode & 0o777, radix: 8)
            throw TLSLoadError(file: path, what: "key", reason: "is readable by other users (mode 0\(mode)): make it "
                                   + "owner-only, chmod 600 \(path)")
        }
    }

    /// The DNS names of a certificate: its subject alternative names, lowercased.
    static func names(of certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name in
            guard name.nameType == .dnsName else { return nil }
            return name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }.lowercased()
        }
    }

    /// Why a PEM file could not be loaded, in words: missing, unreadable or not PEM.
    static func reason(_ error: any Error, path: String) -> String {
        var status = stat()
        if stat(path, &status) != 0 { return errno == ENOENT ? "no such file" : "cannot be read" }
        if let ssl = error as? NIOSSLError { return "is not valid PEM (\(ssl))" }
        return "cannot be read: \(error)"
    }
}

/// A certificate, key or CA file the listener cannot use; one line that names the file.
struct TLSLoadError: Error, CustomStringConvertible {
    var file: String
    /// "certificate", "key" or "client CA".
    var what: String
    var reason: String

    var description: String { "TLS \(what) \(file) \(reason)" }
}
