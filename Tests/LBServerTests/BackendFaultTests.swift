import Foundation
import Synchronization
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Backends that break in the ways real ones do; the balancer stays up, answers, and records.
@Suite(.serialized) struct BackendFaultTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private func start(_ backends: [TestBackend], _ extra: [String] = [], folder: TemporaryFolder) throws -> ServerProcess {
        try ServerProcess(lbserver: ["--backends", backends.map(\.url).joined(separator: ","), "--db", folder.database,
                                     "--health-interval", "1m"] + extra, folder: folder.url)
    }

    @Test func aBackendDyingMidResponseEndsTheClientsResponseAndIsRecorded() throws {
        let folder = try TemporaryFolder()
        let dying = try TestBackend(name: "dying", behaviour: .dieMidBody, group: group)
        defer { dying.stop() }
        let server = try start([dying], folder: folder)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port, timeoutSeconds: 5)
        #expect(throws: TestClientError.self) { try connection.request() }
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil {
            (try? store.events(EventQuery(kinds: [.failure])).contains { $0.detail?.contains("after the response began") == true }) == true
        })
    }

    @Test func aBackendThatNeverAnswersGets504AfterTheTimeout() throws {
        let folder = try TemporaryFolder()
        let silent = try TestBackend(name: "silent", behaviour: .hang, group: group)
        defer { silent.stop() }
        let server = try start([silent], ["--response-timeout", "300ms"], folder: folder)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let started = ContinuousClock.now
        let response = try httpRequest(port: port)
        #expect(response.status == 504)
        #expect(ContinuousClock.now - started < .seconds(5))
        // One wait for the one backend: a timed-out backend is not retried.
        #expect(silent.requests == 1)
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil {
            (try? store.events(EventQuery(kinds: [.failure])).first?.detail?.contains("sent nothing for 300ms")) == true
        })
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.rejected])).first?.detail?.hasPrefix("504")) == true })
    }

    @Test func aBackendAnsweringGarbageGets502() throws {
        let folder = try TemporaryFolder()
        let garbage = try TestBackend(name: "garbage", behaviour: .garbage, group: group)
        defer { garbage.stop() }
        let server = try start([garbage], folder: folder)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try httpRequest(port: port).status == 502)
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.failure])).count) == 1 })
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.rejected])).first?.detail?.hasPrefix("502")) == true })
    }

    @Test func oneSlowBackendDoesNotSlowRequestsToTheOthers() throws {
        let folder = try TemporaryFolder()
        let slow = try TestBackend(name: "slow", behaviour: .serve(delay: .seconds(3)), group: group)
        let fast = try TestBackend(name: "fast", group: group)
        defer { slow.stop(); fast.stop() }
        let server = try start([slow, fast], ["--threads", "1"], folder: folder)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        // Park requests on the slow backend (every other pick), then time the fast ones.
        var parked: [HTTPTestConnection] = []
        var fastTimes: [Duration] = []
        for _ in 0..<10 {
            let connection = try HTTPTestConnection(port: port)
            let started = ContinuousClock.now
            try connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            // Wait briefly for an answer; a slow pick stays parked.
            if waitUntil(timeout: .milliseconds(500), { slow.requests > parked.count }) && slow.requests > parked.count {
                parked.append(connection)
            } else {
                _ = try connection.readResponse()
                fastTimes.append(ContinuousClock.now - started)
            }
        }
        #expect(!parked.isEmpty && !fastTimes.isEmpty)
        #expect(fastTimes.allSatisfy { $0 < .seconds(1) }, "\(fastTimes)")
    }

    @Test func beyondMaxConnectionsNewOnesAreClosedAndOpenOnesKeepWorking() throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "a", group: group)
        defer { backend.stop() }
        let server = try start([backend], ["--max-connections", "5", "--threads", "1"], folder: folder)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let open = try (0..<5).map { _ in try HTTPTestConnection(port: port) }
        for connection in open { #expect(try connection.request().status == 200) }
        for _ in 0..<3 {
            let extra = try HTTPTestConnection(port: port, timeoutSeconds: 5)
            try? extra.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(extra.isClosedByPeer())
        }
        for connection in open { #expect(try connection.request().status == 200) }
        #expect(waitUntil { server.stderr.contains("connection limit reached") })
        // A slot freed is a slot usable again.
        open[0].hangUp()
        #expect(waitUntil { (try? httpRequest(port: port).status) == 200 })
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small file system needs root (CI runs as root)"))
    func aFullDiskNeverStopsTrafficAndRecordingResumesWhenSpaceReturns() throws {
        let folder = try TemporaryFolder()
        let disk = folder.url.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        #expect(try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk.path]) == 0)
        defer { _ = try? runTool("/bin/umount", ["-l", disk.path]) }
        let database = disk.appendingPathComponent("lb.sqlite3").path
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", database,
                                                  "--health-down-interval", "200ms", "--admin", "127.0.0.1:0"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })

        // The disk fills up.
        let filler = disk.appendingPathComponent("filler")
        _ = FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        let chunk = Data(count: 64 * 1024)
        for _ in 0..<1_000 {
            do { try handle.write(contentsOf: chunk) } catch { break }
        }
        try? handle.close()
        b.stop()
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<50 { #expect(try connection.request().status == 200) }
        #expect(waitUntil { server.stderr.contains("cannot write the event log") }, "\(server.stderr)")
        // The status page says so too.
        let failing = try httpRequest(port: server.adminPort, "GET", "/status").text
        #expect(failing.contains("\"writable\" : false"), "\(failing)")
        #expect(failing.contains("\"last_error\""))
        // Space again: what was queued is written, with the outage on the record.
        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil {
            (try? store.events(EventQuery(kinds: [.statusChange])).contains { $0.detail?.hasPrefix("up->down") == true }) == true
        })
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.storeError])).count) == 1 })
        #expect(waitUntil { (try? httpRequest(port: server.adminPort, "GET", "/status").text.contains("\"writable\" : true")) == true })

        #expect(try store.integrityCheck() == "ok")
    }
}

extension BackendFaultTests {
    @Test(.enabled(if: getuid() == 0, "mounting a small file system needs root (CI runs as root)"))
    func afterADiskFullEpisodeTheWALIsCheckpointedAndCutBack() throws {
        let folder = try TemporaryFolder()
        let disk = folder.url.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        #expect(try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", disk.path]) == 0)
        defer { _ = try? runTool("/bin/umount", ["-l", disk.path]) }
        let database = disk.appendingPathComponent("lb.sqlite3").path
        // Accepts connections (its checks pass) and resets every request: one failure event
        // and one guard_held per request, the only backend never marked down.
        let failing = try TestBackend(name: "failing", behaviour: .resetFirst(10_000_000), group: group)
        defer { failing.stop() }
        let server = try ServerProcess(lbserver: ["--backends", failing.url, "--db", database, "--retry-delay", "0s",
                                                  "--attempts", "1", "--outlier-failures", "off",
                                                  "--health-interval", "1m", "--admin", "127.0.0.1:0"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        struct Status: Decodable {
            struct Database: Decodable { var writable: Bool; var eventsQueued: Int; var walBytes: Int }
            var database: Database
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        func status() -> Status.Database? {
            guard let body = try? httpRequest(port: server.adminPort, "GET", "/status").body else { return nil }
            return try? decoder.decode(Status.self, from: Data(body)).database
        }

        // The disk fills up, and a backlog of records builds while it is full.
        let filler = disk.appendingPathComponent("filler")
        _ = FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        let chunk = Data(count: 256 * 1024)
        for _ in 0..<1_000 {
            do { try handle.write(contentsOf: chunk) } catch { break }
        }
        try? handle.close()
        // Four clients until 3 000 requests (at most 30 s): 4 failures, 3 retries and a
        // guard_held each, some 24 000 records, a WAL of about 6 MB once they are written.
        // An atomic, not a Mutex: ThreadSanitizer reports a contended Mutex falsely (see DaemonMetrics).
        let sent = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            guard let connection = try? HTTPTestConnection(port: port) else { return }
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, sent.load(ordering: .relaxed) < 3_000,
                  (try? connection.request().status) == 503 {
                sent.add(1, ordering: .relaxed)
            }
        }
        let requests = sent.load(ordering: .relaxed)
        #expect(waitUntil { status()?.writable == false })
        #expect((status()?.eventsQueued ?? 0) > 20_000, "\(requests) requests")

        // Space again: the backlog is written, then the WAL is checkpointed and cut back.
        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: .seconds(30)) { status().map { $0.writable && $0.eventsQueued == 0 } == true })
        #expect(waitUntil { (status()?.walBytes ?? .max) <= 4 << 20 }, "\(status().map { "\($0.walBytes)" } ?? "?")")
        let onDisk = (try FileManager.default.attributesOfItem(atPath: database + "-wal")[.size] as? Int) ?? -1
        #expect(onDisk <= 4 << 20, "\(onDisk)")
        let metrics = try httpRequest(port: server.adminPort, "GET", "/metrics").text
        #expect(metrics.contains("lb_database_wal_bytes "), "\(metrics)")
        let store = try Store(path: database, mode: .existing)
        // Nothing was lost on the way.
        #expect(try store.events(EventQuery(kinds: [.failure])).count >= 3 * requests)
        #expect(try store.events(EventQuery(kinds: [.dropped])).isEmpty)
    }
}

/// Runs a system tool to completion and returns its exit status.
func runTool(_ path: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}
