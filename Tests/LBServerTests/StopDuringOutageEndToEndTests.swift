import CSQLite
import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// A stop while the database cannot be written: what was queued is spilled to a side file,
/// durably, and the next start writes it before it restores anything.
@Suite(.serialized) struct StopDuringOutageEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private struct Status: Decodable {
        struct Database: Decodable { var writable: Bool; var eventsQueued: Int }
        var database: Database
    }

    private func status(_ server: ServerProcess) throws -> Status {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Status.self, from: Data(httpRequest(port: server.adminPort, "GET", "/status").body))
    }

    @Test func aStopDuringALockSpillsEveryRecordAndTheNextStartWritesThemBeforeRestoring() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database, "--health-interval", "1m",
                         "--health-down-interval", "1m", "--admin", "127.0.0.1:0"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { first.stop() }
        let port = try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })

        // Another process holds the write lock; b dies and traffic marks it down meanwhile.
        var locker: OpaquePointer?
        #expect(sqlite3_open(folder.database, &locker) == SQLITE_OK)
        defer { sqlite3_close(locker) }
        #expect(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nil, nil, nil) == SQLITE_OK)
        b.stop()
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<6 { #expect(try connection.request().status == 200) }
        #expect(waitUntil { first.stderr.contains("cannot write the event log") })
        // The batch held for its next try counts as queued: 4 failures, 3 retries, the status
        // change and the health at least.
        #expect(waitUntil { ((try? status(first))?.database.eventsQueued ?? 0) >= 9 })
        #expect(try status(first).database.writable == false)

        first.signal(SIGTERM)
        #expect(first.waitForExit(timeout: .seconds(15)) == 0)
        let spill = folder.database + "-spill"
        #expect(FileManager.default.fileExists(atPath: spill))
        let stopLine = try #require(first.stderr.split(separator: "\n").last { $0.contains("msg=\"stopped") })
        #expect(stopLine.contains("events_dropped=0"), "\(stopLine)")
        #expect(stopLine.contains("events_spilled="), "\(stopLine)")
        // Nothing of it reached the database.
        #expect(sqlite3_exec(locker, "COMMIT", nil, nil, nil) == SQLITE_OK)
        #expect(try store.events(EventQuery(kinds: [.shutdown])).isEmpty)
        #expect(try store.backend(url: b.url)?.health == .up)

        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        let secondPort = try second.waitUntilListening()
        // The spilled records were written first, so the restore saw b down and the stop clean.
        #expect(try (0..<4).allSatisfy { _ in try httpRequest(port: secondPort).text == "a" })
        #expect(b.requests == 0)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let startup = try #require(try store.events(EventQuery(kinds: [.startup])).last)
        #expect(startup.detail?.contains("previous_stop=clean") == true, "\(startup.detail ?? "")")
        #expect(startup.detail?.contains("spill_recovered=") == true, "\(startup.detail ?? "")")
        #expect(startup.detail?.contains("restored_down=\(b.url)") == true, "\(startup.detail ?? "")")
        #expect(!FileManager.default.fileExists(atPath: spill))
        let events = try store.events(EventQuery())
        #expect(events.filter { $0.kind == .shutdown }.count == 1)
        #expect(events.filter { $0.kind == .failure && $0.backendURL == b.url }.count >= 4)
        #expect(events.contains { $0.kind == .statusChange && $0.backendURL == b.url && $0.data?.cause == .traffic })
        let outage = try #require(events.first { $0.kind == .storeError })
        #expect(outage.detail?.contains("kept in \(spill)") == true, "\(outage.detail ?? "")")
        // In the order they happened: the outage's account, then the records, then the new start.
        let shutdown = try #require(events.first { $0.kind == .shutdown })
        #expect(shutdown.at <= startup.at)
        #expect(try store.events(EventQuery(kinds: [.statusChange])).last { $0.backendURL == b.url }?.data?.cause == .restore)
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small file system needs root (CI runs as root)"))
    func aStopOnAFullDiskSpillsIntoTheRoomItKeptAndTheNextStartWritesIt() throws {
        let folder = try TemporaryFolder()
        let disk = folder.url.appendingPathComponent("disk").path
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        #expect(try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=32m", "tmpfs", disk]) == 0)
        defer { _ = try? runTool("/bin/umount", ["-l", disk]) }
        let database = disk + "/lb.sqlite3"
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", database, "--health-interval", "1m",
                         "--health-down-interval", "1m"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { first.stop() }
        let port = try first.waitUntilListening()
        let store = try Store(path: database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        #expect(FileManager.default.fileExists(atPath: database + "-spill.reserve"))

        // The disk fills up to the last byte; b dies and traffic marks it down meanwhile.
        let filler = disk + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler))
        for size in [1 << 20, 4 << 10, 512] {
            while (try? handle.write(contentsOf: Data(count: size))) != nil {}
        }
        try? handle.close()
        b.stop()
        for _ in 0..<6 { #expect(try httpRequest(port: port).status == 200) }
        #expect(waitUntil { first.stderr.contains("cannot write the event log") })
        first.signal(SIGTERM)
        #expect(first.waitForExit(timeout: .seconds(15)) == 0)
        let stopLine = try #require(first.stderr.split(separator: "\n").last { $0.contains("msg=\"stopped") })
        #expect(stopLine.contains("events_dropped=0") && stopLine.contains("events_spilled="), "\(stopLine)")
        #expect(FileManager.default.fileExists(atPath: database + "-spill"))

        // Room again: the next start writes it all before restoring, and keeps room anew.
        try FileManager.default.removeItem(atPath: filler)
        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        let secondPort = try second.waitUntilListening()
        #expect(try (0..<4).allSatisfy { _ in try httpRequest(port: secondPort).text == "a" })
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let startup = try #require(try store.events(EventQuery(kinds: [.startup])).last?.detail)
        #expect(startup.contains("previous_stop=clean") && startup.contains("spill_recovered="), "\(startup)")
        #expect(startup.contains("restored_down=\(b.url)"), "\(startup)")
        #expect(try store.events(EventQuery(kinds: [.failure])).filter { $0.backendURL == b.url }.count >= 4)
        #expect(FileManager.default.fileExists(atPath: database + "-spill.reserve"))
        #expect(!FileManager.default.fileExists(atPath: database + "-spill"))
    }
}
