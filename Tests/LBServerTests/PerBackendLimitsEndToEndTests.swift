import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Per-backend limits from the config file (`max_connections`, `response_timeout`), on the
/// real daemon.
@Suite(.serialized) struct PerBackendLimitsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func aBackendAtItsMaxConnectionsIsPassedOver() throws {
        let folder = try TemporaryFolder()
        let slow = try TestBackend(name: "slow", behaviour: .serve(delay: .milliseconds(800)), group: group)
        let spare = try TestBackend(name: "spare", group: group)
        defer { slow.stop(); spare.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try """
            backends:
              - { url: "\(slow.url)", max_connections: 1 }
              - { url: "\(spare.url)", backup: true }
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database,
                                                  "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try httpRequest(port: server.adminPort, "GET", "/status").text.contains("\"max_connections\" : 1"))
        let first = try HTTPTestConnection(port: port)
        try first.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil { slow.requests == 1 })
        // The only primary is full: the request goes to the backup rather than queue behind it.
        #expect(try httpRequest(port: port).text == "spare")
        #expect(try first.readResponse().text == "slow")
        #expect(try httpRequest(port: port).text == "slow")
    }

    @Test func withEveryLiveBackendFullTheAnswerIs503AndTheLogSaysWhy() throws {
        let folder = try TemporaryFolder()
        let slow = try TestBackend(name: "slow", behaviour: .serve(delay: .milliseconds(800)), group: group)
        defer { slow.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try """
            backends:
              - { url: "\(slow.url)", max_connections: 1 }
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let first = try HTTPTestConnection(port: port)
        try first.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil { slow.requests == 1 })
        #expect(try httpRequest(port: port).status == 503)
        #expect(waitUntil { server.stderr.contains("every live backend is at its connection limit") }, "\(server.stderr)")
        #expect(!server.stderr.contains("no backend is alive"))
        #expect(try first.readResponse().text == "slow")
    }

    @Test func aBackendsOwnResponseTimeoutOverridesTheGlobalOne() throws {
        let folder = try TemporaryFolder()
        let stuck = try TestBackend(name: "stuck", behaviour: .hang, group: group)
        defer { stuck.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try """
            response_timeout: 60s
            backends:
              - { url: "\(stuck.url)", response_timeout: 300ms, connect_timeout: 1s }
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let started = ContinuousClock.now
        let response = try httpRequest(port: port)
        #expect(response.status == 504)
        #expect(ContinuousClock.now - started < .seconds(5))
        let store = try Store(path: folder.database, mode: .existing)
        var details: [String] = []
        #expect(waitUntil {
            details = (try? store.events(EventQuery(kinds: [.failure])).compactMap(\.detail)) ?? []
            return !details.isEmpty
        })
        #expect(details.first?.contains("backend sent nothing for 300") == true, "\(details)")
    }

    @Test func limitsMustBeValid() throws {
        let folder = try TemporaryFolder()
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "backends:\n  - http://127.0.0.1:9\n  - { url: \"http://127.0.0.1:10\", max_connections: 0 }\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let result = try runProduct("lbserver", ["--check-config", config.path], folder: folder.url)
        #expect(result.status == 65)
        #expect(result.stderr.contains("lb.yaml:3: backends.max_connections must be a whole number of at least 1"),
                "\(result.stderr)")
    }
}
