import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// The database file deleted, renamed or replaced under a running daemon: it stops writing into
/// the file it holds, says so on /status, in the log and in metrics, keeps serving, and `lbctl`
/// warns that the file it opens is not the daemon's.
@Suite(.serialized) struct DatabaseMovedEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private struct Status: Decodable {
        struct Database: Decodable {
            var writable: Bool
            var lastError: String?
            var eventsWritten: Int
            var eventsQueued: Int
        }
        var database: Database
    }

    private func status(_ server: ServerProcess) -> Status? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let body = try? httpRequest(port: server.adminPort, "GET", "/status").body else { return nil }
        return try? decoder.decode(Status.self, from: Data(body))
    }

    private func start(_ backends: [TestBackend], folder: TemporaryFolder) throws -> (ServerProcess, Int) {
        let server = try ServerProcess(lbserver: ["--backends", backends.map(\.url).joined(separator: ","),
                                                  "--db", folder.database, "--health-interval", "1m",
                                                  "--health-down-interval", "1m", "--admin", "127.0.0.1:0"],
                                       folder: folder.url)
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        return (server, port)
    }

    @Test func aRenamedDatabaseIsNotWrittenIntoTrafficFlowsAndPuttingItBackResumes() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let (server, port) = try start([a, b], folder: folder)
        defer { server.stop() }
        let moved = folder.database + ".moved"
        #expect(rename(folder.database, moved) == 0)
        b.stop()
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<6 { #expect(try connection.request().status == 200) }
        #expect(waitUntil { status(server)?.database.writable == false })
        let reason = try #require(status(server)?.database.lastError)
        #expect(reason.contains("\(folder.database) was deleted or renamed after it was opened"), "\(reason)")
        #expect(waitUntil { server.stderr.contains("was deleted or renamed after it was opened") })
        let metrics = try httpRequest(port: server.adminPort, "GET", "/metrics").text
        #expect(metrics.contains("lb_database_writable 0"), "\(metrics)")
        // Nothing went into the file it holds: it is all held, and held it stays.
        let written = try #require(status(server)?.database.eventsWritten)
        #expect(try #require(status(server)?.database.eventsQueued) >= 9)
        for _ in 0..<3 { #expect(try connection.request().status == 200) }
        #expect(!waitUntil(timeout: .seconds(1)) { (status(server)?.database.eventsWritten ?? 0) > written })

        // Put back, it is written again, the outage first.
        #expect(rename(moved, folder.database) == 0)
        #expect(waitUntil { status(server)?.database.writable == true })
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.failure])))?.count ?? 0) >= 4 })
        let outage = try #require(try store.events(EventQuery(kinds: [.storeError])).first)
        #expect(outage.detail?.contains("deleted or renamed") == true, "\(outage.detail ?? "")")
        #expect(try store.backend(url: b.url)?.health == .down)
    }

    @Test func aReplacedDatabaseIsReportedAndLbctlWarnsThatTheDaemonDoesNotUseIt() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let (server, port) = try start([a, b], folder: folder)
        defer { server.stop() }
        // A copy put in its place, as a restore from a backup would.
        let copy = folder.url.appendingPathComponent("copy.sqlite3").path
        let before = try runProduct("lbctl", ["backends", "--db", folder.database], folder: folder.url)
        #expect(before.status == 0 && !before.stderr.contains("warning"), "\(before.stderr)")
        try FileManager.default.copyItem(atPath: folder.database, toPath: copy)
        #expect(unlink(folder.database) == 0)
        try FileManager.default.copyItem(atPath: copy, toPath: folder.database)
        #expect(try httpRequest(port: port).status == 200)
        #expect(waitUntil { status(server)?.database.lastError?.contains("was replaced by another file") == true })
        #expect(status(server)?.database.writable == false)

        // A change made to the new file would reach nobody: lbctl makes it and says so.
        let drain = try runProduct("lbctl", ["drain", b.url, "--db", folder.database], folder: folder.url)
        #expect(drain.status == 0)
        #expect(drain.stderr.contains("warning: lbserver (pid \(server.process.processIdentifier)) does not use \(folder.database)"),
                "\(drain.stderr)")
        // Traffic still flows to both: the daemon never saw the drain.
        let served = try (0..<6).map { _ in try httpRequest(port: port).text }
        #expect(Set(served) == ["a", "b"])
    }

    @Test func aDeletedDatabaseIsReportedAndLbctlNamesTheFileTheDaemonHolds() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let (server, port) = try start([a], folder: folder)
        defer { server.stop() }
        // As `rm lb.sqlite3*` would: the file, its write-ahead log and its shared-memory index.
        for suffix in ["", "-wal", "-shm"] { #expect(unlink(folder.database + suffix) == 0) }
        #expect(try httpRequest(port: port).status == 200)
        #expect(waitUntil(timeout: .seconds(15)) { status(server)?.database.writable == false })
        #expect(status(server)?.database.lastError?.contains("deleted or renamed") == true)
        // lbctl init makes a new file there; the daemon holds the deleted one.
        let initialized = try runProduct("lbctl", ["init", "--db", folder.database], folder: folder.url)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let listed = try runProduct("lbctl", ["backends", "--db", folder.database], folder: folder.url)
        #expect(listed.stderr.contains("holds \(folder.database) (deleted)"), "\(listed.stderr)")
        #expect(try httpRequest(port: port).status == 200)
    }
}
