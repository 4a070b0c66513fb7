import Foundation

/// Certificates made for one test by Debian's openssl: a CA, server certificates it signs for
/// the names asked for (with 127.0.0.1 as an IP name too, unless asked not to), client certificates, and a second
/// CA that nothing trusts. Keys are EC P-256, written owner-only.
struct TestCertificates {
    let folder: URL

    /// A CA in `folder`: `NAME.pem` and `NAME.key`.
    init(folder: URL, ca name: String = "ca") throws {
        self.folder = folder
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-subj", "/CN=lb test \(name)",
                     "-days", "2"])
    }

    func path(_ file: String) -> String { folder.appendingPathComponent(file).path }

    /// A certificate `NAME.pem` with key `NAME.key`, for `dnsNames` (the first as its CN), signed
    /// by the CA `ca`; a client certificate when `client`; valid from now for `days` (-1: it
    /// expired a day ago); without 127.0.0.1 among its names unless `localIP`.
    @discardableResult
    func issue(_ name: String, dnsNames: [String], by ca: String = "ca", client: Bool = false, days: Int = 2,
               localIP: Bool = true) throws
        -> (certificate: String, key: String) {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(dnsNames[0])"])
        let names = (dnsNames.map { "DNS:\($0)" } + (localIP ? ["IP:127.0.0.1"] : [])).joined(separator: ",")
        let usage = client ? "extendedKeyUsage=clientAuth" : "extendedKeyUsage=serverAuth"
        try "subjectAltName=\(names)\n\(usage)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                     "-CAcreateserial", "-out", path("\(name).pem"), "-days", "\(days)", "-extfile", path("\(name).ext")])
        chmod(path("\(name).key"), 0o600)
        return (path("\(name).pem"), path("\(name).key"))
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try runTool("/usr/bin/openssl", arguments, folder: folder)
        guard result.status == 0 else {
            throw TestClientError(description: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)")
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".key") {
            chmod(path(file), 0o600)
        }
    }
}

/// `curl` against the proxy over HTTPS: its exit status, the body, and what `-v` said (the
/// certificate's subject, the TLS version).
func curlHTTPS(_ url: String, resolve: String? = nil, ca: String, clientCertificate: (String, String)? = nil,
               extra: [String] = [], folder: URL) throws -> (status: Int32, body: String, verbose: String) {
    var arguments = ["-sS", "-v", "--max-time", "10", "--cacert", ca, "-D", "-"]
    if let resolve { arguments += ["--resolve", resolve] }
    if let (certificate, key) = clientCertificate { arguments += ["--cert", certificate, "--key", key] }
    let result = try runTool("/usr/bin/curl", arguments + extra + [url], folder: folder)
    return (result.status, result.stdout, result.stderr)
}
