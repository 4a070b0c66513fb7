import ArgumentParser

/// `lbserver`'s flags for TLS on the traffic listener and to `https://` backends.
struct TLSOptions: ParsableArguments {
    @Option(Settings.tlsCert) var tlsCert: [String]
    @Option(Settings.tlsKey) var tlsKey: [String]
    @Option(Settings.tlsClientCA) var tlsClientCA: OffOr<String>?
    @Option(Settings.backendCA) var backendCA: String?
    @Option(Settings.backendCert) var backendCert: String?
    @Option(Settings.backendKey) var backendKey: String?

    /// Puts the flags given into `configuration`: the pairs given replace the file's.
    func apply(to configuration: inout ServerConfiguration) throws(ConfigurationError) {
        guard tlsCert.count == tlsKey.count else {
            throw ConfigurationError(flag: "--tls-cert", problem: SettingProblem(
                reason: .sentence("--tls-cert and --tls-key come in pairs: \(tlsCert.count) certificate(s), "
                                  + "\(tlsKey.count) key(s)"), given: tlsCert.joined(separator: ",")))
        }
        if !tlsCert.isEmpty {
            configuration.tls.certificates = []
            Settings.tlsCert.apply(tlsCert, to: &configuration)
            Settings.tlsKey.apply(tlsKey, to: &configuration)
        }
        Settings.tlsClientCA.apply(tlsClientCA, to: &configuration)
        Settings.backendCA.apply(backendCA, to: &configuration)
        Settings.backendCert.apply(backendCert, to: &configuration)
        Settings.backendKey.apply(backendKey, to: &configuration)
    }
}
