import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// SIGHUP and `lbserver reload` on the real daemon: the config file is read again, its backends
/// reach the registry, and every setting that needs no new socket or process is applied in place:
/// the same process goes on, a connection kept alive across the reload is not closed, and its next
/// request already follows the new settings. A bad file changes nothing.
@Suite(.serialized) struct ReloadEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private struct Status: Decodable {
        struct Check: Decodable { var at: String }
        struct Backend: Decodable { var url: String; var adminState: String; var weight: Int; var recentChecks: [Check] }
        var algorithm: String
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

    /// Eight answers on `connection`, by backend name.
    private func answers(_ connection: HTTPTestConnection) throws -> [String] {
        try (0..<8).map { _ in try connection.request().text }
    }

    @Test func lbserverReloadAppliesEverySettingInPlaceAndTheNextRequestOnAKeptConnectionFollowsIt() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        let firstLog = folder.url.appendingPathComponent("access-1.log").path
        let secondLog = folder.url.appendingPathComponent("access-2.log").path
        let backends = "backends:\n  - \(a.url)\n  - \(b.url)\n"
        try """
            \(backends)algorithm: round-robin
            health:
              interval: 1h
            access_log: \(firstLog)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database, "--admin", "127.0.0.1:0"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let kept = try HTTPTestConnection(port: port)
        #expect(Set(try answers(kept)) == ["a", "b"], "round robin takes turns")
        let checksBefore = status(server)?.backends.map(\.recentChecks.count) ?? []
        #expect(checksBefore.allSatisfy { $0 <= 1 }, "an hour apart: one check each, at the start")
        let longTarget = "/" + String(repeating: "x", count: 300)
        // An HTTP/2 connection open across the reload: each stream is a request of its own.
        let h2 = try RawHTTP2Client(port: port)
        var h2Frames: [RawHTTP2Client.Frame] = []
        func h2Answer(stream: UInt32, path: String) throws -> RawHTTP2Client.Answer? {
            let head = RawHTTP2Client.block([(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "lb.test")])
            h2.send(RawHTTP2Client.frame(.headers, flags: 0x5, stream: stream, head))
            let deadline = ContinuousClock.now + .seconds(10)
            // One decoder over every frame of the connection, as its header compression requires.
            while ContinuousClock.now < deadline {
                h2Frames += h2.readFrames(seconds: 0.2).frames
                if let answer = try RawHTTP2Client.answers(h2Frames)[stream], answer.ended || answer.resetCode != nil {
                    return answer
                }
            }
            return nil
        }
        #expect(try h2Answer(stream: 1, path: longTarget)?.field(":status") == "200")

        try """
            \(backends)algorithm: hash
            health:
              interval: 100ms
            max_request_line: 100
            log_format: json
            access_log: \(secondLog)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let reload = try runProduct("lbserver", ["reload", "--config", config, "--db", folder.database], folder: folder.url)
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(!reload.stdout.contains("restarted"), "\(reload.stdout)")

        // The same connection, its next request: hashed (one backend for one client), and the
        // new limit on the request line.
        #expect(Set(try answers(kept)).count == 1, "the hash sends one client to one backend")
        #expect(try kept.request("GET", longTarget).status == 414)
        #expect(try h2Answer(stream: 3, path: longTarget)?.field(":status") == "414", "a new stream, the new limit")
        #expect(try h2Answer(stream: 5, path: "/")?.field(":status") == "200")
        #expect(status(server)?.algorithm == "hash")
        // Checks 100 ms apart from now on, not in an hour.
        #expect(waitUntil { (status(server)?.backends.map(\.recentChecks.count).min() ?? 0) >= 4 })
        // The log's lines in JSON from the reload on, and the access log in the new file.
        #expect(waitUntil { server.stderr.contains("\"msg\":\"configuration reloaded\"") }, "\(server.stderr)")
        let fresh = try HTTPTestConnection(port: port)
        #expect(try fresh.request("GET", "/after-reload").status == 200)
        #expect(waitUntil { ((try? String(contentsOfFile: secondLog, encoding: .utf8)) ?? "").contains("/after-reload") })
        #expect(!(try String(contentsOfFile: firstLog, encoding: .utf8)).contains("/after-reload"))
        #expect(try String(contentsOfFile: secondLog, encoding: .utf8).hasPrefix("{"), "JSON access log lines")

        // One process all along, one reload event that names what it applied.
        #expect(server.process.isRunning)
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.reload])))?.count ?? 0) == 1 })
        let event = try #require(try store.events(EventQuery(kinds: [.reload])).first)
        #expect(event.data?.outcome == "ok")
        #expect(Set(event.data?.applied ?? []) == ["algorithm", "health.interval", "max_request_line",
                                                   "log_format", "access_log"], "\(event.detail)")
        #expect(event.data?.needsRestart == [], "\(event.detail)")
        #expect(event.data?.restartedPID == nil)
        #expect(try store.events(EventQuery(kinds: [.startup])).count == 1)
        // The HTTP/2 client says it is done (GOAWAY, last stream 5), so the stop need not wait for it.
        h2.send(RawHTTP2Client.frame(.goaway, flags: 0, stream: 0, [0, 0, 0, 5, 0, 0, 0, 0]))
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }

    @Test func sighupAppliesTimeoutsAndTheConnectionCapInPlace() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        try "backends:\n  - \(a.url)\nidle_timeout: 1h\n".write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let kept = try HTTPTestConnection(port: port)
        #expect(try kept.request().text == "a")
        let other = try HTTPTestConnection(port: port)
        #expect(try other.request().text == "a")

        try "backends:\n  - \(a.url)\nidle_timeout: 300ms\nmax_connections: 2\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.reload])))?.count ?? 0) == 1 })
        let event = try #require(try store.events(EventQuery(kinds: [.reload])).first)
        #expect(Set(event.data?.applied ?? []) == ["idle_timeout", "max_connections"], "\(event.detail)")

        // Two connections are open: a third is over the new cap and closed unanswered.
        let third = try HTTPTestConnection(port: port, timeoutSeconds: 5)
        #expect(waitUntil { third.isClosedByPeer() })
        // The kept connection's next request is answered; idle after it, the connection closes
        // after the new idle timeout, not the hour it began with.
        #expect(try kept.request().text == "a")
        let answered = ContinuousClock.now
        #expect(waitUntil(timeout: .seconds(5)) { kept.isClosedByPeer() })
        #expect(ContinuousClock.now - answered >= .milliseconds(250))
        #expect(server.process.isRunning)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }

    @Test func turningOutlierDetectionOffEndsEjectionsAndTurningItOnAgainEjectsAgain() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", behaviour: .raw(OutlierDetectionEndToEndTests.unavailable), group: group)
        defer { a.stop(); b.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        func write(_ outlier: String) throws {
            try "backends:\n  - \(a.url)\n  - \(b.url)\nhealth:\n  interval: 100ms\n  down_interval: 100ms\n\(outlier)"
                .write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write("outlier:\n  failures: 3\n  5xx: \"on\"\n  base_ejection: 10m\n")
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        func health(_ url: String) -> Health? { try? store.backend(url: url)?.health }
        func statusesOf(_ count: Int) throws -> [Int] { try (0..<count).map { _ in try httpRequest(port: port).status } }
        #expect(waitUntil { health(a.url) == .up && health(b.url) == .up })
        _ = try statusesOf(6)
        #expect(waitUntil { health(b.url) == .down }, "three 503s in a row eject b")
        #expect(try statusesOf(4).allSatisfy { $0 == 200 })

        // Off: the ejection of ten minutes ends now, and b's 503s reach clients again.
        try write("outlier:\n  failures: \"off\"\n")
        server.signal(SIGHUP)
        #expect(waitUntil { health(b.url) == .up }, "\(server.stderr)")
        let ended = try #require(try store.events(EventQuery(kinds: [.statusChange])).last)
        #expect(ended.detail?.contains("outlier detection turned off") == true, "\(ended.detail ?? "")")
        #expect(try statusesOf(6).filter { $0 == 503 }.count == 3)

        // On again, with a lower threshold: two 503s in a row eject b once more.
        try write("outlier:\n  failures: 2\n  5xx: \"on\"\n  base_ejection: 10m\n")
        server.signal(SIGHUP)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.reload])))?.count ?? 0) == 2 })
        _ = try statusesOf(4)
        #expect(waitUntil { health(b.url) == .down })
        let reloads = try store.events(EventQuery(kinds: [.reload]))
        #expect(reloads.map { Set($0.data?.applied ?? []) }
                    == [["outlier.failures", "outlier.5xx", "outlier.base_ejection"],
                        ["outlier.failures", "outlier.5xx", "outlier.base_ejection"]], "\(reloads.map(\.detail))")
        #expect(server.process.isRunning)
    }
}
