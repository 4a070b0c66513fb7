import Foundation
import PostgresTestServer
import Testing

/// `lbctl --db postgres://…` against a real PostgreSQL server (the test run's own): the commands
/// work as on a file, and each way of failing to reach the database is one clear line and the
/// documented exit code.
@Suite struct PostgresCommandTests {
    static func server() throws -> PostgresTestServer { try PostgresTestServer.shared.get() }

    @Test func initAddDrainAndTheReadCommandsWorkOnAPostgresDatabase() throws {
        let folder = try TestFolder()
        let url = try Self.server().makeDatabase()
        let lbctl = folder.lbctl
        let before = try lbctl.run(["--db", url, "backends"])
        #expect(before.status == 66, "\(before.standardError)")
        #expect(before.errorLines.count == 1 && before.standardError.contains("lbctl --db URL init"), "\(before.standardError)")

        let initialised = try lbctl.run(["--db", url, "init"])
        #expect(initialised.status == 0, "\(initialised.standardError)")
        #expect(initialised.standardOutput.contains("schema version"))
        #expect(!initialised.standardOutput.contains("password="), "the URL is shown without its secrets")
        for arguments in [["add", "http://127.0.0.1:9001"], ["add", "http://127.0.0.1:9002", "--weight", "3"],
                          ["drain", "http://127.0.0.1:9001"], ["weight", "http://127.0.0.1:9002", "5"]] {
            let result = try lbctl.run(["--db", url] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.standardError)")
        }

        let backends = try lbctl.run(["--db", url, "backends", "--json"])
        #expect(backends.status == 0, "\(backends.standardError)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(backends.standardOutput.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["url"] as? String } == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"])
        #expect(rows.map { $0["admin_state"] as? String } == ["drained", "enabled"])
        #expect(rows.map { $0["weight"] as? Int } == [1, 5])

        let events = try lbctl.run(["--db", url, "events", "--kind", "admin_change"])
        #expect(events.status == 0, "\(events.standardError)")
        #expect(events.standardOutput.contains("admin_state enabled->drained"), "\(events.standardOutput)")
        #expect(events.standardOutput.contains("weight 3->5"), "\(events.standardOutput)")

        let why = try lbctl.run(["--db", url, "why", "http://127.0.0.1:9001"])
        #expect(why.status == 0, "\(why.standardError)")
        #expect(why.standardOutput.contains("drained"), "\(why.standardOutput)")

        let duplicate = try lbctl.run(["--db", url, "add", "http://127.0.0.1:9001"])
        #expect(duplicate.status == 65, "\(duplicate.standardError)")
    }

    /// A server that takes TCP clients over TLS only, with a certificate made for this test.
    @Test func sslmodeVerifyFullReachesATLSServerAndAWrongCAOrNoTLSIsOneLineAndExit69() throws {
        let folder = try TestFolder()
        let server = try PostgresTestServer(tls: true)
        defer { server.stop() }
        let name = try server.makeDatabaseName()
        let ca = try #require(server.certificateAuthorityFile)
        let verified = server.tcpURL(database: name, "sslmode=verify-full&sslrootcert=\(ca)")
        for arguments in [["init"], ["add", "http://127.0.0.1:9001"]] {
            let result = try folder.lbctl.run(["--db", verified] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.standardError)")
        }
        let listed = try folder.lbctl.run(["--db", verified, "backends"])
        #expect(listed.status == 0 && listed.standardOutput.contains("http://127.0.0.1:9001"), "\(listed.standardError)")

        // A certificate authority that did not sign the server's certificate.
        let otherCA = folder.path("other-ca.crt")
        let made = Process()
        made.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        made.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", folder.path("other-ca.key"), "-out", otherCA, "-days", "1", "-subj", "/CN=other"]
        made.standardOutput = FileHandle.nullDevice
        made.standardError = FileHandle.nullDevice
        try made.run()
        made.waitUntilExit()
        let wrong = try folder.lbctl.run(["--db", server.tcpURL(database: name, "sslmode=verify-full&sslrootcert=\(otherCA)"),
                                          "backends"])
        #expect(wrong.status == 69, "\(wrong.standardError)")
        #expect(wrong.errorLines.count == 1 && wrong.standardError.contains("TLS certificate was not accepted"),
                "\(wrong.standardError)")

        // Without TLS the server refuses the client (hostssl only): one line, exit 69.
        let plain = try folder.lbctl.run(["--db", server.tcpURL(database: name, "sslmode=disable"), "backends"])
        #expect(plain.status == 69, "\(plain.standardError)")
        #expect(plain.errorLines.count == 1 && plain.standardError.contains("over TLS only"), "\(plain.standardError)")
    }

    @Test func aWrongPasswordIsOneLineAndExit69AndNeverShowsThePassword() throws {
        let folder = try TestFolder()
        let server = try Self.server()
        let url = try server.makeDatabase()
        let wrong = folder.path("wrong-password")
        FileManager.default.createFile(atPath: wrong, contents: Data("not-the-password-42\n".utf8),
                                       attributes: [.posixPermissions: 0o600])
        let result = try folder.lbctl.run(["--db", url.replacingOccurrences(of: server.passwordFile, with: wrong), "backends"])
        #expect(result.status == 69, "\(result.standardError)")
        #expect(result.errorLines.count == 1, "\(result.standardError)")
        #expect(result.standardError.contains("password"), "\(result.standardError)")
        #expect(!result.standardError.contains("not-the-password-42"))

        let fromEnvironment = try folder.lbctl.run(["--db", server.url(database: "postgres").components(separatedBy: "&password_file")[0],
                                                    "backends"], environment: ["PGPASSWORD": "not-the-password-42"])
        #expect(fromEnvironment.status == 69, "\(fromEnvironment.standardError)")
        #expect(!fromEnvironment.standardError.contains("not-the-password-42"))
    }

    @Test func anUnreachableServerFailsAtOnceWithOneLineAndExit69() throws {
        let folder = try TestFolder()
        // A loopback port nothing listens on: bound, then closed.
        let port = try Self.closedLoopbackPort()
        let started = ContinuousClock.now
        let result = try folder.lbctl.run(["--db", "postgres://lb@127.0.0.1:\(port)/lb?sslmode=disable", "backends"])
        #expect(result.status == 69, "\(result.standardError)")
        #expect(result.errorLines.count == 1, "\(result.standardError)")
        #expect(result.standardError.contains("cannot be reached"), "\(result.standardError)")
        #expect(ContinuousClock.now - started < .seconds(5))

        let noSocket = try folder.lbctl.run(["--db", "postgres://lb@/lb?host=\(folder.url.path)", "add", "http://127.0.0.1:9001"])
        #expect(noSocket.status == 69, "\(noSocket.standardError)")
        #expect(noSocket.errorLines.count == 1, "\(noSocket.standardError)")
    }

    @Test func aDatabaseOfAnotherApplicationIsRefusedAndLeftAlone() throws {
        let folder = try TestFolder()
        let server = try Self.server()
        let url = try server.makeDatabase()
        let name = String(url.split(separator: "/")[2].split(separator: "?")[0])
        try server.psql(name, "CREATE TABLE invoices (id integer)")
        for arguments in [["backends"], ["init"], ["add", "http://127.0.0.1:9001"]] {
            let result = try folder.lbctl.run(["--db", url] + arguments)
            #expect(result.status == 66, "\(arguments): \(result.standardError)")
            #expect(result.errorLines.count == 1, "\(arguments): \(result.standardError)")
            #expect(result.standardError.contains("another application"), "\(arguments): \(result.standardError)")
        }
        #expect(try server.psql(name, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test(arguments: [
        "postgres://lb:secret@127.0.0.1/lb",
        "postgres://lb@127.0.0.1/lb?password=secret",
        "postgres://lb@127.0.0.1/lb?sslmode=sometimes",
        "postgres://127.0.0.1/lb",
        "postgres://lb@127.0.0.1/",
        "mysql://lb@127.0.0.1/lb",
    ])
    func aMalformedURLIsRefusedWithoutShowingASecret(url: String) throws {
        let folder = try TestFolder()
        let result = try folder.lbctl.run(["--db", url, "backends"])
        #expect(result.status == 65, "\(url): \(result.standardError)")
        #expect(result.errorLines.count == 1, "\(url): \(result.standardError)")
        #expect(!result.standardError.contains("secret"), "\(url): \(result.standardError)")
    }

    static func closedLoopbackPort() throws -> Int {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        guard bound else { throw PostgresTestServerError("cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
