import Foundation
import NIOCore
import NIOPosix
import Testing

/// Per-backend settings (backup, limits) live in the registry: `lbctl set` changes them on a
/// running daemon, and the config file wins only when it changes that same setting.
@Suite(.serialized) struct RegistrySettingsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func lbctlChangesTakeEffectWithoutARestartAndTheFileWinsOnlyWhenItChangesThatSetting() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        func write(_ backends: String) throws {
            try "backends:\n\(backends)\n".write(to: config, atomically: true, encoding: .utf8)
        }
        try write("  - \(a.url)\n  - \(b.url)")
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database,
                                                  "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        func answers(_ count: Int) throws -> Set<String> { Set(try (0..<count).map { _ in try httpRequest(port: port).text }) }
        func lbctl(_ arguments: String...) throws {
            let result = try runProduct("lbctl", ["--db", folder.database] + arguments, folder: folder.url)
            #expect(result.status == 0, "\(result.stderr)")
        }
        func status() throws -> String { try httpRequest(port: server.adminPort, "GET", "/status").text }
        #expect(try answers(4) == ["a", "b"])

        // An operator makes b a backup and limits a: the running daemon follows, no restart.
        try lbctl("set", b.url, "backup=true")
        try lbctl("set", a.url, "max_connections=3")
        #expect(waitUntil { (try? answers(4)) == ["a"] })
        #expect(waitUntil { (try? status())?.contains("\"max_connections\" : 3") == true })

        // A reload of a file that declares neither keeps both, while what it does change applies:
        // once b's new weight is in, so is everything that reload committed.
        try write("  - \(a.url)\n  - { url: \"\(b.url)\", weight: 2 }")
        server.signal(SIGHUP)
        #expect(waitUntil { server.stderr.contains("msg=\"configuration reloaded\"") })
        #expect(waitUntil { server.stderr.contains("weight 1->2") }, "\(server.stderr)")
        #expect(try answers(4) == ["a"])
        #expect(try status().contains("\"max_connections\" : 3"))

        // The file now declares b a primary and a's limit: it changed those settings, so it wins.
        try write("  - { url: \"\(a.url)\", max_connections: 50 }\n  - { url: \"\(b.url)\", weight: 2, backup: false }")
        server.signal(SIGHUP)
        #expect(waitUntil { (try? answers(4)) == ["a", "b"] }, "\(server.stderr)")
        #expect(waitUntil { (try? status())?.contains("\"max_connections\" : 50") == true })
    }
}
