import CSQLite
import Foundation
import Testing
@testable import LBStore

@Suite struct OpenErrorTests {
    @Test func aDirectoryIsRefusedWithATypedError() throws {
        let folder = try TemporaryDirectory()
        let error = #expect(throws: StoreError.self) { try Store(path: folder.url.path) }
        #expect(error?.kind == .isDirectory)
        #expect(error?.message.contains("is a directory") == true)
    }

    @Test func aFileThatIsNotADatabaseIsRefused() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("notes.txt")
        try String(repeating: "this is not sqlite\n", count: 100).write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: StoreError.self) { try Store(path: path) }
        #expect(error?.kind == .notADatabase)
        // Nothing was written into the file.
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("this is not sqlite"))
    }

    @Test func anotherApplicationsDatabaseIsRefused() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("other.sqlite3")
        let other = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        other.close()
        let error = #expect(throws: StoreError.self) { try Store(path: path) }
        #expect(error?.kind == .foreignDatabase)
    }

    @Test func aReadOnlyFileIsRefusedForWritingAndReadableReadOnly() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        do {
            let store = try Store(path: path)
            try store.addBackend(url: "http://127.0.0.1:1", actor: "test")
        }
        // Fold the WAL into the main file so a read-only open sees the data.
        let checkpoint = try SQLiteConnection(path: path, mode: .readWrite)
        try checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE")
        checkpoint.close()
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        let error = #expect(throws: StoreError.self) { try Store(path: path, mode: .existing) }
        #expect(error?.kind == .readOnly)
        let reader = try Store(path: path, mode: .readOnly)
        #expect(try reader.backends().map(\.url) == ["http://127.0.0.1:1"])
        let writeError = #expect(throws: StoreError.self) {
            try reader.addBackend(url: "http://127.0.0.1:2", actor: "test")
        }
        #expect(writeError?.kind == .readOnly)
    }

    @Test func aMissingFileIsAnErrorUnlessCreationIsAsked() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("absent.sqlite3")
        let error = #expect(throws: StoreError.self) { try Store(path: path, mode: .readOnly) }
        #expect(error?.kind == .missing)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func aFileFromANewerVersionIsRefused() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        _ = try Store(path: path)
        let connection = try SQLiteConnection(path: path, mode: .readWrite)
        try connection.execute("PRAGMA user_version=\(Schema.currentVersion + 1)")
        connection.close()
        let error = #expect(throws: StoreError.self) { try Store(path: path) }
        #expect(error?.kind == .tooNew)
    }
}
