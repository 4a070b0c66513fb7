import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// SIGHUP on the real daemon: the config file is read again, its backends reach the registry
/// without a connection dropped, and a bad file changes nothing.
@Suite(.serialized) struct ReloadEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private struct Status: Decodable {
        struct Backend: Decodable { var url: String; var adminState: String; var weight: Int }
        var backends: [Backend]
    }

    private func status(_ server: ServerProcess) -> Status? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let body = try? httpRequest(port: server.adminPort, "GET", "/status").body else { return nil }
        return try? decoder.decode(Status.self, from: Data(body))
    }

    @Test func sighupAppliesTheFilesBackendsWithoutDroppingConnectionsAndABadFileChangesNothing() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "backends:\n  - \(a.url)\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database,
                                                  "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let kept = try HTTPTestConnection(port: port)
        #expect(try kept.request().text == "a")

        try """
            threads: 7
            backends:
              - \(a.url)
              - { url: "\(b.url)", state: drained }
              - { url: "\(c.url)", weight: 3 }
            """.write(to: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(waitUntil {
            guard let backends = status(server)?.backends else { return false }
            return backends.map { "\($0.url) \($0.adminState) \($0.weight)" }
                == ["\(a.url) enabled 1", "\(b.url) drained 1", "\(c.url) enabled 3"]
        })
        #expect(waitUntil { server.stderr.contains("msg=\"configuration reloaded\"") })
        #expect(server.stderr.contains("msg=\"changed settings take effect at the next restart\" settings=threads"),
                "\(server.stderr)")
        // The connection opened before the reload still serves.
        #expect(try kept.request().status == 200)
        let store = try Store(path: folder.database, mode: .existing)
        let commands = try store.events(EventQuery(kinds: [.adminChange])).compactMap { $0.data?.command }
        #expect(commands.filter { $0 == "reload: declared by the configuration" }.count == 2, "\(commands)")

        // A broken file: logged with its line, nothing changes, traffic goes on.
        try "backends:\n  - \(a.url)\nthreds: 2\n".write(to: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(waitUntil { server.stderr.contains("reload failed; keeping the running configuration") })
        #expect(server.stderr.contains("lb.yaml:3: unknown setting 'threds'"), "\(server.stderr)")
        #expect(status(server)?.backends.count == 3)
        #expect(try kept.request().status == 200)

        // A backend the file no longer declares leaves the registry.
        try "backends:\n  - \(a.url)\n  - \(b.url)\n".write(to: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(waitUntil { status(server)?.backends.map(\.url) == [a.url, b.url] })
        #expect(server.process.isRunning)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }
}
