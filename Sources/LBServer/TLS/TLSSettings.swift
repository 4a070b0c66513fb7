/// One certificate of the traffic listener: its chain (PEM, the leaf first) and its private key.
struct CertificatePair: Sendable, Equatable, Hashable {
    var certificate: String
    var key: String
}

/// TLS on the traffic listener: off without certificates. The first certificate is the default,
/// for clients that send no server name or one that no certificate names.
struct TLSSettings: Sendable, Equatable {
    var certificates: [CertificatePair] = []
    /// With a CA file, clients must present a certificate it issued.
    var clientCA: String?

    var isEnabled: Bool { !certificates.isEmpty }
}
