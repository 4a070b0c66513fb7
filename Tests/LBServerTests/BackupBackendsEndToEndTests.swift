import Foundation
import NIOCore
import NIOPosix
import Testing

/// Backends marked `backup: true` in the config file, on the real daemon.
@Suite(.serialized) struct BackupBackendsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func aBackupServesOnlyWhileNoPrimaryCanAndAReloadCanPromoteIt() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try """
            backends:
              - \(a.url)
              - { url: "\(b.url)", backup: true }
              - { url: "\(c.url)", backup: true }
            health: { interval: 200ms, down_interval: 200ms }
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database,
                                                  "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        func answers(_ count: Int) throws -> [String] { try (0..<count).map { _ in try httpRequest(port: port).text } }
        #expect(try answers(6) == Array(repeating: "a", count: 6))
        let status = try httpRequest(port: server.adminPort, "GET", "/status").text
        #expect(status.contains("\"backup\" : true") && status.contains("\"backup\" : false"))
        #expect(try httpRequest(port: server.adminPort, "GET", "/").text.contains(">backup<"))

        // The primary dies: its requests fail over to the backups, which share the load.
        a.stop()
        #expect(Set(try answers(6)) == ["b", "c"])
        // It comes back: the backups are idle again.
        try a.restart()
        #expect(waitUntil { (try? httpRequest(port: port).text) == "a" })
        #expect(try answers(6) == Array(repeating: "a", count: 6))

        // A reload that drops `backup` puts b in the rotation.
        try """
            backends:
              - \(a.url)
              - \(b.url)
              - { url: "\(c.url)", backup: true }
            """.write(to: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(waitUntil { (try? httpRequest(port: port).text) == "b" })
        #expect(Set(try answers(6)) == ["a", "b"])
    }

    @Test func backupMustBeTrueOrFalse() throws {
        let folder = try TemporaryFolder()
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "backends:\n  - { url: \"http://127.0.0.1:9\", backup: maybe }\n".write(to: config, atomically: true,
                                                                                      encoding: .utf8)
        let result = try runProduct("lbserver", ["--check-config", config.path], folder: folder.url)
        #expect(result.status == 65)
        #expect(result.stderr.contains("lb.yaml:2: backends.backup must be true or false"), "\(result.stderr)")
    }
}
