import CSQLite
import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Restart, live changes and shutdown of the real daemon.
@Suite(.serialized) struct LifecycleEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func killNineThenRestartRestoresBackendsHealthAdminStateAndCursor() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        let d = try TestBackend(name: "d", group: group)
        defer { a.stop(); b.stop(); c.stop(); d.stop() }
        b.stop()
        let list = [a, b, c, d].map(\.url).joined(separator: ",")
        let first = try ServerProcess(lbserver: ["--backends", list, "--db", folder.database], folder: folder.url)
        defer { first.stop() }
        let port = try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backend(url: b.url)?.health) == .down })
        try store.setAdminState(.drained, url: c.url, actor: "operator")
        #expect(waitUntil { first.stderr.contains("backend changed") })
        // The ring is now [a, b, d] with b dead: a pick of d leaves the cursor at 2 (d's index),
        // a pick of a leaves it at 3. Stop on a response from d.
        #expect(waitUntil { (try? httpRequest(port: port).text) == "d" })
        #expect(waitUntil { (try? store.balancerState().cursor) == 2 }, "cursor not saved")
        let failuresBefore = try store.events(EventQuery(kinds: [.failure])).count
        first.signal(SIGKILL)
        #expect(first.waitForExit() != nil)

        #expect(try store.integrityCheck() == "ok")
        let second = try ServerProcess(lbserver: ["--db", folder.database, "--health-interval", "1m",
                                                  "--health-down-interval", "1m"], folder: folder.url)
        defer { second.stop() }
        let newPort = try second.waitUntilListening()
        // Resumed at cursor 2: the next index is 3 % 3 = 0, backend a. A fresh cursor would pick d.
        #expect(try httpRequest(port: newPort).text == "a")
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let startup = try #require(try store.events(EventQuery(kinds: [.startup])).last)
        let detail = try #require(startup.detail)
        #expect(detail.contains("previous_stop=unclean"), "\(detail)")
        #expect(detail.contains("restored_down=\(b.url)"), "\(detail)")
        #expect(detail.contains("cursor=2"), "\(detail)")
        // Same four backends, none duplicated; c still drained; b skipped as down, never tried.
        let backends = try store.backends()
        #expect(backends.map(\.url) == [a.url, b.url, c.url, d.url])
        #expect(backends[2].adminState == .drained)
        let served = try (0..<6).map { _ in try httpRequest(port: newPort).text }
        #expect(Set(served) == ["a", "d"], "\(served)")
        #expect(try store.events(EventQuery(kinds: [.failure])).count == failuresBefore)
    }

    @Test func aRegistryChangeByAnotherProcessTakesEffectWithinASecond() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        #expect(try Set((0..<4).map { _ in try connection.request().text }) == ["a", "b"])

        let store = try Store(path: folder.database, mode: .existing)
        try store.setAdminState(.drained, url: b.url, actor: "operator")
        let drainedAt = ContinuousClock.now
        #expect(waitUntil(timeout: .seconds(1)) {
            (try? (0..<4).allSatisfy { _ in try connection.request().text == "a" }) == true
        }, "drain not applied within a second")
        print("drain applied after \(ContinuousClock.now - drainedAt)")

        try store.addBackend(url: c.url, actor: "operator")
        #expect(waitUntil(timeout: .seconds(1)) { (try? connection.request().text) == "c" },
                "new backend not used within a second")
        #expect(waitUntil { server.stderr.contains("backend added") })
    }

    @Test func aLockedDatabaseNeverStopsTrafficAndWhatWasQueuedIsWrittenAfterwards() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })

        // Another process holds the write lock, as a long `lbctl` transaction or a backup might.
        var locker: OpaquePointer?
        #expect(sqlite3_open(folder.database, &locker) == SQLITE_OK)
        defer { sqlite3_close(locker) }
        #expect(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nil, nil, nil) == SQLITE_OK)
        let lockedAt = ContinuousClock.now
        b.stop()
        let connection = try HTTPTestConnection(port: port)
        var statuses: [Int] = []
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline && statuses.count < 200 {
            statuses.append(try connection.request().status)
        }
        #expect(Set(statuses) == [200], "\(statuses.filter { $0 != 200 })")
        #expect(waitUntil { server.stderr.contains("cannot write the event log") })
        #expect(try store.events(EventQuery(kinds: [.statusChange])).allSatisfy { !($0.detail ?? "").hasPrefix("up->down") })

        // Hold the lock for ten seconds in all, serving traffic the while.
        while ContinuousClock.now - lockedAt < .seconds(10) {
            #expect(try connection.request().status == 200)
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(sqlite3_exec(locker, "COMMIT", nil, nil, nil) == SQLITE_OK)
        // What was queued during the lock arrives, and the outage itself is on the record.
        #expect(waitUntil {
            (try? store.events(EventQuery(kinds: [.statusChange])).contains { $0.detail?.hasPrefix("up->down") == true }) == true
        })
        let outage = try #require(try store.events(EventQuery(kinds: [.storeError])).first)
        #expect(outage.detail?.contains("locked") == true, "\(outage.detail ?? "")")
        #expect(try store.backend(url: b.url)?.health == .down)
    }

    @Test func theStatusEndpointShowsBackendsAndTheEventLogOffTheTrafficPort() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", folder.database,
                                                  "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        #expect(server.adminPort > 0 && server.adminPort != server.port)
        let store = try Store(path: folder.database, mode: .existing)
        try store.setAdminState(.drained, url: b.url, actor: "operator")
        struct Status: Decodable {
            struct Backend: Decodable { var url: String; var health: String; var adminState: String; var inFlight: Int }
            struct Database: Decodable { var writable: Bool; var eventsWritten: Int }
            var backends: [Backend]
            var database: Database
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(waitUntil {
            guard let body = try? httpRequest(port: server.adminPort, "GET", "/status").body,
                  let status = try? decoder.decode(Status.self, from: Data(body)) else { return false }
            return status.backends.map { "\($0.url) \($0.health) \($0.adminState)" }
                == ["\(a.url) up enabled", "\(b.url) up drained"]
                && status.database.writable && status.database.eventsWritten > 0
        })
        #expect(try httpRequest(port: server.adminPort, "GET", "/nope").status == 404)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aStopSignalFinishesTheRequestInFlightRecordsShutdownAndExitsZero(signal: Int32) throws {
        let folder = try TemporaryFolder()
        let slow = try TestBackend(name: "slow", behaviour: .serve(delay: .milliseconds(700)), group: group)
        defer { slow.stop() }
        let server = try ServerProcess(lbserver: ["--backends", slow.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        try connection.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil { slow.requests == 1 })
        server.signal(signal)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "slow")
        #expect(server.waitForExit() == 0)
        let log = server.stderr
        let draining = try #require(log.range(of: "shutting down: no new connections"))
        let stopped = try #require(log.range(of: "msg=\"stopped\""))
        #expect(draining.upperBound <= stopped.lowerBound)
        // No new connections after the stop.
        #expect(throws: (any Error).self) { try httpRequest(port: port) }
        let store = try Store(path: folder.database, mode: .existing)
        #expect(try store.events(EventQuery(kinds: [.shutdown])).count == 1)
        let state = try store.balancerState()
        let lastStart = try #require(state.lastStart)
        #expect((state.lastCleanStop ?? Timestamp(milliseconds: 0)) >= lastStart)
    }

    @Test(arguments: [
        (["--backends", "ftp://127.0.0.1:1"], "scheme 'ftp'"),
        (["--backends", "http://127.0.0.1:1,,http://127.0.0.1:2"], "empty item"),
        (["--backends", "http://127.0.0.1:1, http://127.0.0.1:1"], "listed twice"),
        (["--backends", "http://127.0.0.1:99999"], "invalid port"),
        (["--health-interval", "soon"], "--health-interval"),
    ])
    func badFlagsFailWithOneClearLine(arguments: [String], expected: String) throws {
        let folder = try TemporaryFolder()
        let result = try runProduct("lbserver", arguments + ["--db", folder.database, "--listen", "127.0.0.1:0"],
                                    folder: folder.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.database))
    }

    @Test func aPortInUseAndAnUnusableDatabaseAreClearErrors() throws {
        let folder = try TemporaryFolder()
        let holder = try TestBackend(name: "holder", group: group)
        defer { holder.stop() }
        let inUse = try runProduct("lbserver", ["--db", folder.database, "--listen", "127.0.0.1:\(holder.port)"],
                                   folder: folder.url)
        #expect(inUse.status == 1)
        #expect(inUse.stderr.contains("address already in use"), "\(inUse.stderr)")

        let directory = try runProduct("lbserver", ["--db", folder.url.path, "--listen", "127.0.0.1:0"], folder: folder.url)
        #expect(directory.status == 1)
        #expect(directory.stderr.contains("is a directory"), "\(directory.stderr)")

        // A database file without write permission (an operator's read-only copy) is refused, even
        // for root, whom the kernel would let write it.
        _ = try Store(path: folder.database, mode: .create)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: folder.database)
        let readOnly = try runProduct("lbserver", ["--db", folder.database, "--listen", "127.0.0.1:0"], folder: folder.url)
        #expect(readOnly.status == 1)
        #expect(readOnly.stderr.contains("read-only"), "\(readOnly.stderr)")
        #expect(readOnly.stderr.split(separator: "\n").count == 1)
    }
}
