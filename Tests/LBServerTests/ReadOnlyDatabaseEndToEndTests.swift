import Foundation
import LBStore
import Testing

/// A database on read-only media (a mounted backup): lbctl's read commands read it, with or
/// without a write-ahead log beside it; writers say why they cannot.
@Suite(.serialized) struct ReadOnlyDatabaseEndToEndTests {
    /// A database with a backend, a drain and a status change at `path`, its WAL not yet
    /// checkpointed while the store returned stays open.
    private func makeDatabase(at path: String) throws -> Store {
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "test")
        try store.setAdminState(.drained, url: backend.url, actor: "test")
        let writer = try EventWriter(path: path)
        writer.record(Event(at: .now(), kind: .statusChange, backendID: backend.id,
                            detail: "up->down cause=check failed 1 time(s), fall=1: connection refused",
                            data: EventData(from: "up", to: "down", cause: .check)))
        writer.close()
        return store
    }

    @Test(.enabled(if: getuid() == 0, "mounting a file system needs root (CI runs as root)"),
          arguments: [false, true])
    func lbctlReadsABackupOnAReadOnlyMountAndWritersSayWhyNot(withWAL: Bool) throws {
        let folder = try TemporaryFolder()
        let media = folder.url.appendingPathComponent("media").path
        try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: true)
        #expect(try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", media]) == 0)
        defer { _ = try? runTool("/bin/umount", ["-l", media]) }
        let source = folder.url.appendingPathComponent("live.sqlite3").path
        var store: Store? = try makeDatabase(at: source)
        // Without a log: the last connection's close writes it into the file.
        if !withWAL { store = nil }
        let backup = media + "/lb.sqlite3"
        // A copy of a live database's files, its write-ahead log holding the latest records.
        for suffix in withWAL ? ["", "-wal"] : [""] {
            try FileManager.default.copyItem(atPath: source + suffix, toPath: backup + suffix)
        }
        #expect(FileManager.default.fileExists(atPath: source + "-wal") == withWAL)
        #expect(try runTool("/bin/mount", ["-o", "remount,ro", media]) == 0)

        let backends = try runProduct("lbctl", ["backends", "--db", backup], folder: folder.url)
        #expect(backends.status == 0, "\(backends.stderr)")
        #expect(backends.stdout.contains("http://127.0.0.1:9001") && backends.stdout.contains("drained"), "\(backends.stdout)")
        let events = try runProduct("lbctl", ["events", "--db", backup], folder: folder.url)
        #expect(events.status == 0, "\(events.stderr)")
        // With a log, the status change sits in it, not in the file: read all the same.
        #expect(events.stdout.contains("status_change"), "\(events.stdout)")
        #expect(events.stdout.contains("admin_change"), "\(events.stdout)")
        let why = try runProduct("lbctl", ["why", "http://127.0.0.1:9001", "--db", backup], folder: folder.url)
        #expect(why.status == 0, "\(why.stderr)")
        // Nothing was left on the media, nor in the temporary folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: media).sorted()
                == (withWAL ? ["lb.sqlite3", "lb.sqlite3-wal"] : ["lb.sqlite3"]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
                .filter { $0.hasPrefix("lb-readonly-") }.isEmpty)

        // A command that writes, and the daemon, name the read-only file system.
        let enable = try runProduct("lbctl", ["enable", "http://127.0.0.1:9001", "--db", backup], folder: folder.url)
        #expect(enable.status == 77)
        #expect(enable.stderr.contains("is on a read-only file system"), "\(enable.stderr)")
        let daemon = try runProduct("lbserver", ["--db", backup, "--listen", "127.0.0.1:0"], folder: folder.url)
        #expect(daemon.status == 1)
        #expect(daemon.stderr.contains("is on a read-only file system; it can be read"), "\(daemon.stderr)")
        withExtendedLifetime(store) {}
    }
}
