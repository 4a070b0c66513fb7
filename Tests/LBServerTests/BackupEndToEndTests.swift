import CSQLite
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The backup advice of docs/operations.md, tried on a running daemon: `VACUUM INTO` while it serves and
/// writes, and the copy used by `lbctl` and by a new daemon.
@Suite(.serialized) struct BackupEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func vacuumIntoWhileRunningGivesACopyLbctlAndTheDaemonCanUse() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        b.stop()
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try runProduct("lbctl", ["drain", a.url, "--db", folder.database], folder: folder.url).status == 0)
        #expect(waitUntil { (try? httpRequest(port: port).status) == 503 })
        let original = try runProduct("lbctl", ["backends", "--json", "--db", folder.database], folder: folder.url)

        let copy = folder.url.appendingPathComponent("backup.sqlite3").path
        var connection: OpaquePointer?
        #expect(sqlite3_open_v2(folder.database, &connection, SQLITE_OPEN_READONLY, nil) == SQLITE_OK)
        sqlite3_busy_timeout(connection, 5_000)
        // Traffic keeps the writer busy while the copy is taken.
        for _ in 0..<5 { _ = try? httpRequest(port: port) }
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(connection, "VACUUM INTO '\(copy)'", nil, nil, &message)
        #expect(result == SQLITE_OK, "\(message.map { String(cString: $0) } ?? "")")
        sqlite3_free(message)
        sqlite3_close(connection)
        #expect(try httpRequest(port: port).status == 503, "the daemon still serves")

        let fromCopy = try runProduct("lbctl", ["backends", "--json", "--db", copy], folder: folder.url)
        #expect(fromCopy.status == 0, "\(fromCopy.stderr)")
        struct Row: Decodable, Equatable { var url: String; var health: String; var admin_state: String }
        let rows = try JSONDecoder().decode([Row].self, from: Data(fromCopy.stdout.utf8))
        #expect(rows == (try JSONDecoder().decode([Row].self, from: Data(original.stdout.utf8))))
        #expect(rows.first { $0.url == a.url }?.admin_state == "drained")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)

        // A daemon started on the copy comes back with its registry.
        let restored = try ServerProcess(lbserver: ["--db", copy, "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { restored.stop() }
        try restored.waitUntilListening()
        #expect(waitUntil {
            guard let text = try? httpRequest(port: restored.adminPort, "GET", "/status").text else { return false }
            return text.contains(a.url) && text.contains(b.url) && text.contains("\"drained\"")
        })
    }
}
