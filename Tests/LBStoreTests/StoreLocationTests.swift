import Foundation
import Testing
@testable import LBStore

@Suite struct StoreLocationTests {
    @Test func aPathIsAFileAndAPostgresURLIsAServer() throws {
        #expect(try StoreLocation(parsing: "lb.sqlite3") == .file("lb.sqlite3"))
        #expect(try StoreLocation(parsing: "/var/lib/lb/lb.sqlite3").path == "/var/lib/lb/lb.sqlite3")
        guard case .postgres(let target) = try StoreLocation(parsing: "postgres://lb@db.internal:6432/fleet?sslmode=verify-full") else {
            Issue.record("not a server")
            return
        }
        #expect(target.user == "lb" && target.host == "db.internal" && target.port == 6432 && target.database == "fleet")
        #expect(target.sslMode == .verifyFull && target.socketDirectory == nil)
        #expect(target.description == "postgres://lb@db.internal:6432/fleet?sslmode=verify-full")
        guard case .postgres(let local) = try StoreLocation(parsing: "postgresql://lb@/lb?host=/run/postgresql") else {
            Issue.record("not a server")
            return
        }
        #expect(local.host == nil && local.socketDirectory == "/run/postgresql" && local.port == 5432)
        #expect(local.sslMode == .prefer)
    }

    @Test(arguments: [
        ("postgres://lb:hunter2@db/lb", "password does not belong"),
        ("postgres://lb@db/lb?password=hunter2", "password does not belong"),
        ("postgres://db/lb", "no user name"),
        ("postgres://lb@db", "no database name"),
        ("postgres://lb@db/lb?sslmode=maybe", "sslmode maybe"),
        ("postgres://lb@db/lb?colour=blue", "unknown parameter colour"),
        ("postgres://lb@db/lb?connect_timeout=0", "connect_timeout"),
        ("postgres://lb@/lb?host=/run/postgresql&sslmode=require", "Unix socket"),
        ("mysql://lb@db/lb", "a file path or a postgres:// URL"),
    ])
    func malformedURLsAreRefusedWithoutTheirSecret(url: String, reason: String) {
        let error = #expect(throws: StoreError.self) { try StoreLocation(parsing: url) }
        #expect(error?.kind == .invalidValue)
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("hunter2") == false, "\(error?.message ?? "")")
    }

    @Test func thePasswordComesFromTheEnvironmentThenThePasswordFileThenPGPASSFILE() throws {
        let folder = try TemporaryDirectory()
        let passwordFile = folder.path("password")
        _ = FileManager.default.createFile(atPath: passwordFile, contents: Data("from-file\nignored\n".utf8),
                                       attributes: [.posixPermissions: 0o600])
        let passFile = folder.path("pgpass")
        _ = FileManager.default.createFile(atPath: passFile, contents: Data("""
            # comment
            other:5432:lb:lb:wrong-host
            db:*:lb:lb:from\\:pgpass
            *:*:*:*:catch-all
            """.utf8), attributes: [.posixPermissions: 0o600])
        let withFile = try PostgresTarget(url: "postgres://lb@db/lb?password_file=\(passwordFile)")
        #expect(try withFile.password(environment: ["PGPASSWORD": "from-env"]) == "from-env")
        #expect(try withFile.password(environment: [:]) == "from-file")
        let plain = try PostgresTarget(url: "postgres://lb@db/lb")
        #expect(try plain.password(environment: ["PGPASSFILE": passFile]) == "from:pgpass")
        #expect(try PostgresTarget(url: "postgres://lb@elsewhere/lb").password(environment: ["PGPASSFILE": passFile]) == "catch-all")
        #expect(try plain.password(environment: ["HOME": folder.path("nowhere")]) == nil)

        chmod(passwordFile, 0o644)
        let error = #expect(throws: StoreError.self) { try withFile.password(environment: [:]) }
        #expect(error?.message.contains("chmod 600") == true)
    }
}
