import Foundation
import LBStore
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// TLS on the traffic listener, with the real daemon, certificates made by openssl for the test
/// and curl (and a swift-nio-ssl connection) as clients.
@Suite(.serialized) struct TLSEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Two certificates: SNI picks one, a client that sends no name gets the first, the backend
    /// hears `X-Forwarded-Proto: https`, and a client offering only TLS 1.1 is refused.
    @Test func httpsReachesTheBackendAndTheNameAskedForChoosesTheCertificate() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let a = try certificates.issue("a", dnsNames: ["a.test", "localhost"])
        let b = try certificates.issue("b", dnsNames: ["b.test", "*.b.test"])
        let backend = try TestBackend(name: "one", group: group)
        defer { backend.stop() }
        let accessLog = folder.url.appendingPathComponent("access.log").path
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url,
                                                  "--tls-cert", a.certificate, "--tls-key", a.key,
                                                  "--tls-cert", b.certificate, "--tls-key", b.key,
                                                  "--access-log", accessLog],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let ca = certificates.path("ca.pem")

        let first = try curlHTTPS("https://a.test:\(port)/x", resolve: "a.test:\(port):127.0.0.1", ca: ca, folder: folder.url)
        #expect(first.status == 0, "\(first.verbose)")
        #expect(first.body.hasPrefix("HTTP/2 200"), "ALPN chose h2: \(first.body)")
        #expect(first.body.hasSuffix("one"))
        #expect(first.body.lowercased().contains("x-seen-proto: https"), "\(first.body)")
        #expect(first.verbose.contains("subject: CN=a.test"), "\(first.verbose)")
        // The access log says which TLS version the request came over.
        #expect(waitUntil { ((try? String(contentsOfFile: accessLog, encoding: .utf8)) ?? "").contains("path=/x") })
        let line = try String(contentsOfFile: accessLog, encoding: .utf8).split(separator: "\n").first { $0.contains("path=/x") }
        #expect(line?.hasSuffix(" tls=TLSv1.3") == true && line?.contains(" proto=HTTP/2 ") == true, "\(line ?? "")")

        let second = try curlHTTPS("https://b.test:\(port)/", resolve: "b.test:\(port):127.0.0.1", ca: ca, folder: folder.url)
        #expect(second.status == 0 && second.verbose.contains("subject: CN=b.test"), "\(second.verbose)")
        let wildcard = try curlHTTPS("https://x.b.test:\(port)/", resolve: "x.b.test:\(port):127.0.0.1", ca: ca,
                                     folder: folder.url)
        #expect(wildcard.status == 0 && wildcard.verbose.contains("subject: CN=b.test"), "\(wildcard.verbose)")
        // No name (an IP address sends none): the first certificate.
        let unnamed = try curlHTTPS("https://127.0.0.1:\(port)/", ca: ca, folder: folder.url)
        #expect(unnamed.status == 0 && unnamed.verbose.contains("subject: CN=a.test"), "\(unnamed.verbose)")
        #expect(unnamed.verbose.contains("TLSv1.3"), "\(unnamed.verbose)")

        let old = try curlHTTPS("https://a.test:\(port)/", resolve: "a.test:\(port):127.0.0.1", ca: ca,
                                extra: ["--tlsv1.1", "--tls-max", "1.1"], folder: folder.url)
        #expect(old.status != 0, "TLS 1.1 must be refused: \(old.verbose)")
        // Plain HTTP to the TLS port gets no answer in HTTP.
        let plain = try runTool("/usr/bin/curl", ["-sS", "--max-time", "5", "http://127.0.0.1:\(port)/"], folder: folder.url)
        #expect(plain.status != 0 && !plain.stdout.contains("one"))
        #expect(server.process.isRunning)
    }

    /// ALPN offers `h2`: curl speaks HTTP/2, each stream is one request through the proxy (a
    /// body included), several streams share one connection, and HTTP/1.1 over TLS still works.
    @Test func http2OverTLSCarriesEachStreamThroughTheProxy() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let a = try certificates.issue("a", dnsNames: ["a.test"])
        let backend = try TestBackend(name: "one", group: group)
        defer { backend.stop() }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url,
                                                  "--tls-cert", a.certificate, "--tls-key", a.key], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let ca = certificates.path("ca.pem")
        let resolve = "a.test:\(port):127.0.0.1"

        let get = try curlHTTPS("https://a.test:\(port)/h2?x=1", resolve: resolve, ca: ca, extra: ["--http2"], folder: folder.url)
        #expect(get.status == 0, "\(get.verbose)")
        #expect(get.body.hasPrefix("HTTP/2 200"), "\(get.body)")
        #expect(get.body.hasSuffix("one"))
        #expect(get.body.contains("x-seen-uri: /h2?x=1"), "\(get.body)")
        #expect(get.body.contains("x-seen-proto: https"))
        #expect(!get.body.lowercased().contains("connection:") && !get.body.lowercased().contains("keep-alive"))

        let post = try curlHTTPS("https://a.test:\(port)/upload", resolve: resolve, ca: ca,
                                 extra: ["--http2", "--data-binary", "hello, backend"], folder: folder.url)
        #expect(post.status == 0 && post.body.hasPrefix("HTTP/2 200"), "\(post.verbose)")
        #expect(post.body.contains("x-seen-body-bytes: 14"), "\(post.body)")

        let urls = (0..<6).map { "https://a.test:\(port)/s\($0)" }
        let parallel = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", ca, "--resolve", resolve,
                                                     "--http2", "--parallel", "--parallel-immediate", "-w", "%{http_version} %{http_code}\n",
                                                     "-o", "/dev/null"] + urls.flatMap { [$0, "-o", "/dev/null"] }.dropLast(2),
                                   folder: folder.url)
        #expect(parallel.status == 0, "\(parallel.stderr)")
        #expect(parallel.stdout.split(separator: "\n").filter { $0 == "2 200" }.count == 6, "\(parallel.stdout)")

        let http1 = try curlHTTPS("https://a.test:\(port)/", resolve: resolve, ca: ca, extra: ["--http1.1"], folder: folder.url)
        #expect(http1.status == 0 && http1.body.hasPrefix("HTTP/1.1 200") && http1.body.hasSuffix("one"), "\(http1.body)")
        #expect(server.process.isRunning)
    }

    /// A failed try's event says how the client's request came: over HTTP/2 and which TLS version.
    @Test func aFailedTrysEventSaysTheRequestCameOverHTTP2AndTLS() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let a = try certificates.issue("a", dnsNames: ["a.test"])
        let up = try TestBackend(name: "up", group: group)
        // Closes every connection it is sent a request on: each try of it fails.
        let gone = try TestBackend(name: "gone", behaviour: .resetFirst(1_000), group: group)
        defer { up.stop(); gone.stop() }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", "\(up.url),\(gone.url)",
                                                  "--health-interval", "1m", "--tls-cert", a.certificate,
                                                  "--tls-key", a.key], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let urls = (0..<4).map { "https://a.test:\(port)/f\($0)" }
        let run = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", certificates.path("ca.pem"),
                                                "--resolve", "a.test:\(port):127.0.0.1", "--http2", "-w", "%{http_code}\n",
                                                "-o", "/dev/null"] + urls.flatMap { [$0, "-o", "/dev/null"] }.dropLast(2),
                              folder: folder.url)
        #expect(run.status == 0 && run.stdout.split(separator: "\n").allSatisfy { $0 == "200" }, "\(run.stdout) \(run.stderr)")
        let store = try Store(path: folder.database, mode: .existing)
        let goneID = try #require(try store.backend(url: gone.url)).id
        #expect(waitUntil { ((try? store.events(EventQuery(backendID: goneID, kinds: [.failure])))?.count ?? 0) >= 1 })
        let failures = try store.events(EventQuery(backendID: goneID, kinds: [.failure]))
        #expect(!failures.isEmpty && failures.allSatisfy { $0.data?.via == "HTTP/2 over TLSv1.3" },
                "\(failures.map { $0.data?.via ?? "none" })")
    }

    /// On a plain listener, a client with prior knowledge speaks HTTP/2 from its first byte (h2c);
    /// HTTP/1.1 clients on the same port see no difference.
    @Test func h2cWithPriorKnowledgeOnAPlainListener() throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "one", group: group)
        defer { backend.stop() }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let h2c = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "-i", "--http2-prior-knowledge",
                                                "--data-binary", "abc", "http://127.0.0.1:\(port)/c"], folder: folder.url)
        #expect(h2c.status == 0, "\(h2c.stderr)")
        #expect(h2c.stdout.hasPrefix("HTTP/2 200"), "\(h2c.stdout)")
        #expect(h2c.stdout.contains("x-seen-proto: http\r\n") && h2c.stdout.contains("x-seen-body-bytes: 3"), "\(h2c.stdout)")
        #expect(h2c.stdout.hasSuffix("one"))
        #expect(try httpRequest(port: port).text == "one")
    }

    /// With `--tls-client-ca`, a client without a certificate, or with one another CA issued, is
    /// refused in the handshake; one the CA issued gets through.
    @Test func aClientCertificateIsRequiredAndVerified() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let server = try certificates.issue("server", dnsNames: ["lb.test"])
        _ = try TestCertificates(folder: folder.url, ca: "clients")
        let client = try certificates.issue("client", dnsNames: ["client-1"], by: "clients", client: true)
        _ = try TestCertificates(folder: folder.url, ca: "stranger")
        let stranger = try certificates.issue("intruder", dnsNames: ["intruder"], by: "stranger", client: true)
        let backend = try TestBackend(name: "one", group: group)
        defer { backend.stop() }
        let lb = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url,
                                              "--tls-cert", server.certificate, "--tls-key", server.key,
                                              "--tls-client-ca", certificates.path("clients.pem")], folder: folder.url)
        defer { lb.stop() }
        let port = try lb.waitUntilListening()
        let url = "https://lb.test:\(port)/"
        let resolve = "lb.test:\(port):127.0.0.1"
        let ca = certificates.path("ca.pem")

        let without = try curlHTTPS(url, resolve: resolve, ca: ca, folder: folder.url)
        #expect(without.status != 0 && !without.body.contains("one"), "\(without.verbose)")
        let wrong = try curlHTTPS(url, resolve: resolve, ca: ca, clientCertificate: stranger, folder: folder.url)
        #expect(wrong.status != 0 && !wrong.body.contains("one"), "\(wrong.verbose)")
        let right = try curlHTTPS(url, resolve: resolve, ca: ca, clientCertificate: client, folder: folder.url)
        #expect(right.status == 0 && right.body.hasSuffix("one"), "\(right.verbose)")
    }

    /// A key others can read, a missing certificate, and a key without its certificate: one line
    /// each, and no start.
    @Test func filesThatCannotBeUsedStopTheStartWithOneLine() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let a = try certificates.issue("a", dnsNames: ["a.test"])
        let b = try certificates.issue("b", dnsNames: ["b.test"])
        chmod(a.key, 0o644)
        let cases: [([String], String, Int32)] = [
            (["--tls-cert", b.certificate, "--tls-key", b.key, "--tls-cert", a.certificate, "--tls-key", b.key],
             "lbserver: TLS key \(b.key) is not the key of \(a.certificate)", 1),
            (["--tls-cert", a.certificate, "--tls-key", a.key],
             "lbserver: TLS key \(a.key) is readable by other users (mode 0644): make it owner-only, chmod 600 \(a.key)", 1),
            (["--tls-cert", certificates.path("missing.pem"), "--tls-key", a.key],
             "lbserver: TLS certificate \(certificates.path("missing.pem")) no such file", 1),
            (["--tls-key", a.key],
             "lbserver: --tls-cert and --tls-key come in pairs: 0 certificate(s), 1 key(s)", 64),
            (["--backend-cert", b.certificate],
             "lbserver: TLS backend client certificate \(b.certificate) needs both --backend-cert and --backend-key", 1),
            (["--backend-key", b.key],
             "lbserver: TLS backend client certificate \(b.key) needs both --backend-cert and --backend-key", 1),
            (["--backend-cert", a.certificate, "--backend-key", a.key],
             "lbserver: TLS key \(a.key) is readable by other users (mode 0644): make it owner-only, chmod 600 \(a.key)", 1),
            (["--backend-ca", certificates.path("missing-ca.pem")],
             "lbserver: TLS backend CA \(certificates.path("missing-ca.pem")) no such file", 1),
            (["--backend-ca", a.key],
             "lbserver: TLS backend CA \(a.key) is not valid PEM", 1),
        ]
        for (flags, line, status) in cases {
            let result = try runProduct("lbserver", ["--db", folder.database, "--listen", "127.0.0.1:0"] + flags,
                                        folder: folder.url)
            #expect(result.status == status, "\(flags): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").contains { $0.hasPrefix(line) }, "\(result.stderr)")
        }
    }

    /// SIGHUP reads the certificates again: new handshakes get the new certificate while a
    /// connection opened before goes on with its own; a file that cannot be used fails the
    /// reload and the listener keeps the certificate it has.
    @Test func sighupSwapsTheCertificateWithoutDroppingAConnectionAndABadFileKeepsTheOld() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let old = try certificates.issue("old", dnsNames: ["old.test", "lb.test"])
        let new = try certificates.issue("new", dnsNames: ["new.test", "lb.test"])
        let backend = try TestBackend(name: "one", group: group)
        defer { backend.stop() }
        let live = folder.url.appendingPathComponent("live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        let cert = live.appendingPathComponent("lb.pem").path
        let key = live.appendingPathComponent("lb.key").path
        func install(_ pair: (certificate: String, key: String)) throws {
            for (from, to) in [(pair.certificate, cert), (pair.key, key)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
            chmod(key, 0o600)
        }
        try install(old)
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "backends:\n  - \(backend.url)\ntls:\n  - cert: \(cert)\n    key: \(key)\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let ca = certificates.path("ca.pem")
        let kept = try TLSTestConnection(port: port, serverName: "lb.test", ca: ca)
        #expect(try kept.get().body == "one")
        #expect(try kept.peerNames().contains("old.test"))

        try install(new)
        server.signal(SIGHUP)
        #expect(waitUntil { server.stderr.contains("msg=\"configuration reloaded\"") })
        let fresh = try TLSTestConnection(port: port, serverName: "lb.test", ca: ca)
        #expect(try fresh.get().body == "one")
        #expect(try fresh.peerNames().contains("new.test"))
        // The connection made before the reload still serves, on its old session.
        #expect(try kept.get().status == 200)
        #expect(try kept.peerNames().contains("old.test"))

        // A key that does not parse: the reload fails, and new handshakes still get `new`.
        try "not a key\n".write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o600)
        server.signal(SIGHUP)
        #expect(waitUntil { server.stderr.contains("reload failed; keeping the running configuration") })
        #expect(server.stderr.contains("TLS key \(key) is not valid PEM"), "\(server.stderr)")
        let after = try TLSTestConnection(port: port, serverName: "lb.test", ca: ca)
        #expect(try after.get().status == 200)
        #expect(try after.peerNames().contains("new.test"))
        #expect(try kept.get().status == 200)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }
}

/// `https://` backends: verified against `--backend-ca` with the URL's host as the name, the
/// TLS connection kept alive and reused, health checks that complete the handshake, and a
/// backend whose certificate another CA issued refused and recorded with the reason.
@Suite(.serialized) struct HTTPSBackendEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private func serverContext(_ pair: (certificate: String, key: String)) throws -> NIOSSLContext {
        try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(pair.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: pair.key, format: .pem))))
    }

    @Test func aVerifiedHTTPSBackendServesOverAReusedConnectionAndBadCertificatesAreRefusedWithTheirReason() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let trusted = try certificates.issue("backend", dnsNames: ["localhost"])
        _ = try TestCertificates(folder: folder.url, ca: "stranger")
        let good = try TestBackend(name: "good", group: group, tls: try serverContext(trusted))
        // Each refused for its own reason: another CA, expired yesterday, issued for another name.
        let impostors = [
            ("unknown CA", try certificates.issue("impostor", dnsNames: ["localhost"], by: "stranger")),
            ("certificate expired", try certificates.issue("expired", dnsNames: ["localhost"], days: -1)),
            ("not issued for this host", try certificates.issue("elsewhere", dnsNames: ["elsewhere.test"], localIP: false)),
        ]
        let bad = try impostors.map { reason, pair in
            (reason, try TestBackend(name: reason, group: group, tls: try serverContext(pair)))
        }
        defer { good.stop(); bad.forEach { $0.1.stop() } }
        #expect(good.url.hasPrefix("https://localhost:"))

        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", good.url,
                                                  "--backend-ca", certificates.path("ca.pem"),
                                                  "--health-interval", "200ms", "--health-down-interval", "200ms"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<3 {
            let answer = try connection.request()
            #expect(answer.status == 200 && answer.text == "good")
        }
        #expect(good.requests == 3)

        let store = try Store(path: folder.database, mode: .existing)
        for (reason, backend) in bad {
            let add = try runProduct("lbctl", ["--db", folder.database, "add", backend.url], folder: folder.url)
            #expect(add.status == 0, "\(add.stderr)")
            let id = try #require(try store.backends().first { $0.url == backend.url }?.id)
            #expect(waitUntil(timeout: .seconds(10)) {
                (try? store.healthHistory(backendID: id, in: .all).runs.last?.passed) == false
            })
            let recorded = try store.healthHistory(backendID: id, in: .all).runs.last?.lastError ?? ""
            #expect(recorded.hasPrefix("TLS handshake failed: ") && recorded.contains(reason), "\(reason): \(recorded)")
            let why = try runProduct("lbctl", ["--db", folder.database, "why", backend.url], folder: folder.url)
            #expect(why.stdout.contains(reason), "\(why.stdout)")
            #expect(backend.requests == 0, "nothing reached \(reason)")
        }
        for _ in 0..<4 {
            #expect(try httpRequest(port: port).text == "good")
        }
    }

    /// A reload reads the backend CA again: connections opened from then on are verified against
    /// the new one (here a CA that did not sign the backend, then the right one again), and a CA
    /// file that cannot be used fails the reload and keeps the one in use.
    @Test func aReloadReadsTheBackendCAAgainForTheConnectionsOpenedFromThenOn() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        _ = try TestCertificates(folder: folder.url, ca: "stranger")
        let backend = try TestBackend(name: "good", group: group,
                                      tls: try serverContext(try certificates.issue("backend", dnsNames: ["localhost"])))
        defer { backend.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        func write(ca: String) throws {
            // No idle connection kept: each request opens one, and so meets the CA in use.
            try "backends:\n  - \(backend.url)\nbackend_ca: \(ca)\nupstream_idle_connections: 0\nhealth:\n  interval: 1h\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(ca: certificates.path("ca.pem"))
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try httpRequest(port: port).text == "good")
        func reload() throws -> (status: Int32, stdout: String, stderr: String) {
            try runProduct("lbserver", ["reload", "--config", config, "--db", folder.database], folder: folder.url)
        }

        try write(ca: certificates.path("stranger.pem"))
        #expect(try reload().status == 0)
        let served = backend.requests
        // The balancer's own answer (a failed handshake, then no backend left), and nothing reached it.
        let distrusted = try httpRequest(port: port)
        #expect([502, 503].contains(distrusted.status), "\(distrusted.status) \(distrusted.text)")
        #expect(backend.requests == served, "the backend's certificate is no longer trusted")

        try write(ca: certificates.path("missing.pem"))
        let refused = try reload()
        #expect(refused.status != 0 && (refused.stdout + refused.stderr).contains("missing.pem"), "\(refused)")
        #expect(try httpRequest(port: port).status != 200, "the CA in use stays")
        #expect(backend.requests == served)

        try write(ca: certificates.path("ca.pem"))
        #expect(try reload().status == 0)
        // Back up at its next check (the down interval's), then served.
        #expect(waitUntil { (try? httpRequest(port: port).text) == "good" })
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.reload])))?.count ?? 0) == 3 })
        #expect(try store.events(EventQuery(kinds: [.reload])).map { $0.data?.outcome } == ["ok", "refused", "ok"])
        #expect(server.process.isRunning)
    }

    /// `tls_verify: false` in the file: that backend's certificate is not checked, the log says
    /// so at start, and a plain-HTTP backend cannot carry the option.
    @Test func verificationOffIsExplicitPerBackendAndLoud() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        _ = try TestCertificates(folder: folder.url, ca: "stranger")
        let pair = try certificates.issue("self-made", dnsNames: ["localhost"], by: "stranger")
        let backend = try TestBackend(name: "unchecked", group: group, tls: try serverContext(pair))
        defer { backend.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "backends:\n  - { url: \"\(backend.url)\", tls_verify: false }\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try httpRequest(port: port).text == "unchecked")
        #expect(server.stderr.contains("TLS verification is OFF for this backend"), "\(server.stderr)")
        #expect(server.stderr.contains("backend=\(backend.url)"), "\(server.stderr)")

        try "backends:\n  - { url: \"http://127.0.0.1:1\", tls_verify: false }\n".write(to: config, atomically: true, encoding: .utf8)
        let check = try runProduct("lbserver", ["--check-config", config.path], folder: folder.url)
        #expect(check.status == 65)
        #expect(check.stderr.contains("tls_verify is for https:// backends"), "\(check.stderr)")
    }

    /// On a host without a system trust store (no ca-certificates; played by hiding /etc/ssl in a
    /// mount namespace of lbserver's own) the daemon starts and says so once, and an https
    /// backend is refused as signed by an unknown CA rather than trusted; `--backend-ca` is the way.
    @Test(.enabled(if: canHideTheTrustStore, "mounting over /etc/ssl in a namespace of its own needs root and CAP_SYS_ADMIN"))
    func withoutASystemTrustStoreTheDaemonStartsAndHTTPSBackendsAreRefused() throws {
        let folder = try TemporaryFolder()
        let certificates = try TestCertificates(folder: folder.url)
        let backendPair = try certificates.issue("backend", dnsNames: ["localhost"])
        let backend = try TestBackend(name: "secure", group: group, tls: try serverContext(backendPair))
        defer { backend.stop() }
        let server = try ServerProcess(
            lbserver: ["--db", folder.database, "--backends", backend.url, "--retries", "0", "--attempts", "1"],
            folder: folder.url,
            wrapper: ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", "mount -t tmpfs none /etc/ssl && exec \"$0\" \"$@\""])
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(server.stderr.contains("no system trust store could be read"), "\(server.stderr)")
        let answer = try httpRequest(port: port)
        #expect(answer.status == 502 || answer.status == 503, "\(answer.status) \(answer.text)")
        #expect(backend.requests == 0)
        let store = try Store(path: folder.database, mode: .existing)
        let id = try #require(try store.backend(url: backend.url)).id
        #expect(waitUntil { (try? store.healthHistory(backendID: id, in: .all).runs.last?.passed) == false })
        let recorded = try store.healthHistory(backendID: id, in: .all).runs.last?.lastError ?? ""
        #expect(recorded.hasPrefix("TLS handshake failed: unknown CA"), "\(recorded)")
        #expect(server.process.isRunning)
    }

    /// Whether this machine lets a process hide /etc/ssl in a mount namespace of its own.
    static let canHideTheTrustStore: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        guard let folder = try? TemporaryFolder() else { return false }
        let probe = try? runTool("/usr/bin/unshare", ["--mount", "/bin/sh", "-c", "mount -t tmpfs none /etc/ssl"],
                                 folder: folder.url, timeout: .seconds(10))
        return probe?.status == 0
    }()
}
