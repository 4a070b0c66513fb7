import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server of the test run's own, from Debian's `postgresql` package: a fresh cluster
/// in a temporary directory, listening on a Unix socket there only (no port to collide with),
/// run as `nobody` when the tests run as root (PostgreSQL refuses root), with a password
/// (SCRAM-SHA-256) kept in a file only its owner reads.
///
/// One server serves the whole test process (`shared`); each test takes a database of its own
/// (`makeDatabase()`). The server stops when the process exits, by its pid: an `atexit` handler
/// on a normal exit, and a watchdog shell that outlives a crash of this process by a second.
public final class PostgresTestServer: Sendable {
    public let directory: String
    public let socketDirectory: String
    public let port: Int
    public let user = "lb"
    public let passwordFile: String
    /// The server's process while it runs.
    public var pid: pid_t { process.withLock { $0?.server.processIdentifier ?? 0 } }
    private let process = Mutex<Running?>(nil)

    private struct Running: @unchecked Sendable {
        // @unchecked: Foundation's Process; only started, signalled and asked whether it runs.
        var server: Process
        var watchdog: Process
    }
    private let binaries: String
    private let runAs: [String]
    /// With TLS: the certificate authority that signed the server's certificate (PEM).
    public let certificateAuthorityFile: String?

    /// The server of this test process, started on first use; nil with the reason in `failure`.
    public static let shared: Result<PostgresTestServer, PostgresTestServerError> = {
        Result { try PostgresTestServer() }.mapError { $0 as? PostgresTestServerError ?? .init("\($0)") }
    }()

    /// Starts a server; throws when Debian's PostgreSQL is not installed or does not start in 30 s.
    ///
    /// With `tls`, it also listens on 127.0.0.1 (on a port the OS picked free) and takes TCP
    /// clients over TLS only (`hostssl`), with a certificate for 127.0.0.1 and localhost signed
    /// by a certificate authority made now with openssl (`certificateAuthorityFile`).
    public init(tls: Bool = false) throws {
        guard let binaries = Self.findBinaries() else {
            throw PostgresTestServerError("PostgreSQL is not installed (apt-get install postgresql): no /usr/lib/postgresql/*/bin/postgres")
        }
        self.binaries = binaries
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lb-pg-\(UUID().uuidString.prefix(8))").path
        directory = root
        socketDirectory = root
        port = tls ? try Self.freePort() : 5432
        passwordFile = root + "/password"
        certificateAuthorityFile = tls ? root + "/ca.crt" : nil
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let password = UUID().uuidString
        // The server's copy (initdb reads it as the server's user) and the clients' (0600, ours).
        FileManager.default.createFile(atPath: root + "/initdb-password", contents: Data(password.utf8))
        FileManager.default.createFile(atPath: passwordFile, contents: Data(password.utf8),
                                       attributes: [.posixPermissions: 0o600])
        if getuid() == 0 {
            guard let nobody = getpwnam("nobody") else { throw PostgresTestServerError("no user nobody to run PostgreSQL as") }
            chown(root, nobody.pointee.pw_uid, nobody.pointee.pw_gid)
            chown(root + "/initdb-password", nobody.pointee.pw_uid, nobody.pointee.pw_gid)
            runAs = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        } else {
            runAs = []
        }
        try Self.run((runAs.isEmpty ? [] : runAs) + ["\(binaries)/initdb", "-D", root + "/data", "-U", user, "--pwfile=\(root)/initdb-password",
                              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], what: "initdb")
        if tls { try makeCertificates() }
        try start()
    }

    /// The CA and the server's key and certificate in the data directory, and TCP clients
    /// allowed over TLS only.
    private func makeCertificates() throws {
        let root = directory
        let data = root + "/data"
        let openssl = "/usr/bin/openssl"
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.run([openssl, "req", "-x509"] + curve + ["-keyout", root + "/ca.key", "-out", root + "/ca.crt",
                     "-days", "2", "-subj", "/CN=lb test CA"], what: "openssl (CA)")
        try Self.run([openssl, "req"] + curve + ["-keyout", data + "/server.key", "-out", root + "/server.csr",
                     "-subj", "/CN=localhost"], what: "openssl (server key)")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: root + "/server.ext", atomically: true, encoding: .utf8)
        try Self.run([openssl, "x509", "-req", "-in", root + "/server.csr", "-CA", root + "/ca.crt", "-CAkey", root + "/ca.key",
                      "-CAcreateserial", "-out", data + "/server.crt", "-days", "2", "-extfile", root + "/server.ext"],
                     what: "openssl (server certificate)")
        let hba = data + "/pg_hba.conf"
        let rules = try String(contentsOfFile: hba, encoding: .utf8)
        try rules.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("host ") ? "hostssl" + $0.dropFirst(4) : $0 }.joined(separator: "\n")
            .write(toFile: hba, atomically: true, encoding: .utf8)
        if getuid() == 0, let nobody = getpwnam("nobody") {
            for file in [data + "/server.key", data + "/server.crt", hba] {
                chown(file, nobody.pointee.pw_uid, nobody.pointee.pw_gid)
            }
        }
        chmod(data + "/server.key", 0o600)
        chmod(root + "/ca.crt", 0o644)
    }

    /// A TCP port nothing listens on now, as the OS picks one.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw PostgresTestServerError("socket() failed") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw PostgresTestServerError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts the server on its directory (again, after `stop()`), and waits until it accepts.
    public func start() throws {
        let root = directory
        let server = Process()
        server.executableURL = URL(fileURLWithPath: runAs.first ?? "\(binaries)/postgres")
        server.arguments = Array(runAs.dropFirst()) + (runAs.isEmpty ? [] : ["\(binaries)/postgres"]) + [
            "-D", root + "/data", "-k", root, "-p", String(port),
            "-c", certificateAuthorityFile == nil ? "listen_addresses=" : "listen_addresses=127.0.0.1",
            "-c", "ssl=\(certificateAuthorityFile == nil ? "off" : "on")",
            "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB",
        ]
        FileManager.default.createFile(atPath: root + "/server.log", contents: nil)
        let log = FileHandle(forWritingAtPath: root + "/server.log")
        server.standardInput = FileHandle.nullDevice
        server.standardOutput = log
        server.standardError = log
        try server.run()
        let pid = server.processIdentifier
        // Should this test process die without stopping the server (a crash), a watchdog stops it
        // by its pid within a second; `stop()` ends the watchdog first.
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; kill -INT \(pid) 2>/dev/null"]
        // None of this process's descriptors: a runner waiting for the end of this process's
        // output must not wait for the watchdog too.
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
        process.withLock { $0 = Running(server: server, watchdog: watchdog) }
        Self.started.withLock { servers in
            servers.removeAll { $0.directory == root }
            servers.append((pid, root))
        }
        Self.installExitHandler
        // Ready once it accepts a connection: poll with a deadline.
        let deadline = Date().addingTimeInterval(30)
        while (try? psql("postgres", "SELECT 1")) == nil {
            guard Date() < deadline, server.isRunning else {
                let text = (try? String(contentsOfFile: root + "/server.log", encoding: .utf8)) ?? ""
                throw PostgresTestServerError("PostgreSQL did not start in 30 s: \(text.suffix(600))")
            }
            usleep(50_000)
        }
    }

    /// Stops the server by its pid (a fast shutdown: clients are disconnected) and waits for it.
    public func stop() {
        guard let running = process.withLock({ current -> Running? in
            defer { current = nil }
            return current
        }) else { return }
        kill(running.watchdog.processIdentifier, SIGKILL)
        let pid = running.server.processIdentifier
        kill(pid, SIGINT)
        for _ in 0..<400 where running.server.isRunning { usleep(25_000) }
        // The directory is still removed at exit.
        Self.started.withLock { servers in
            for index in servers.indices where servers[index].pid == pid { servers[index].pid = 0 }
        }
    }

    /// A new, empty database of its own, as a `postgres://` URL that reads the password from
    /// `passwordFile`.
    public func makeDatabase() throws -> String {
        url(database: try makeDatabaseName())
    }

    /// A new, empty database of its own, by name.
    public func makeDatabaseName() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try psql("postgres", "CREATE DATABASE \(name)")
        return name
    }

    /// The URL of `database` on this server.
    public func url(database: String, user: String? = nil) -> String {
        "postgres://\(user ?? self.user)@/\(database)?host=\(socketDirectory)&password_file=\(passwordFile)"
    }

    /// `database` reached over TCP on 127.0.0.1 with these URL parameters (`sslmode=…`), for a
    /// server started with TLS.
    public func tcpURL(database: String, _ parameters: String) -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)?password_file=\(passwordFile)&\(parameters)"
    }

    /// Runs one SQL command with psql as the server's superuser and returns what it printed.
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        try Self.run(["\(binaries)/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory,
                      "-p", String(port), "-U", user, "-d", database, "-c", sql],
                     environment: ["PGPASSWORD": (try? String(contentsOfFile: passwordFile, encoding: .utf8)) ?? ""],
                     what: "psql")
    }

    // MARK: Processes

    private static func findBinaries() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        return versions.map { "\(base)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    @discardableResult
    private static func run(_ arguments: [String], environment: [String: String] = [:], what: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw PostgresTestServerError("\(what) failed (\(process.terminationStatus)): \(text.suffix(600))")
        }
        return text
    }

    private static let started = Mutex<[(pid: pid_t, directory: String)]>([])

    /// Stops every server this process started, by pid, and removes their directories.
    private static let installExitHandler: Void = {
        atexit {
            for (pid, directory) in PostgresTestServer.started.withLock({ $0 }) {
                guard pid > 0 else {
                    try? FileManager.default.removeItem(atPath: directory)
                    continue
                }
                kill(pid, SIGINT)
                // A child of this process: waitpid says when it ended (or that it was reaped).
                var status: Int32 = 0
                for _ in 0..<200 where waitpid(pid, &status, WNOHANG) == 0 { usleep(25_000) }
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
    }()
}

public struct PostgresTestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
