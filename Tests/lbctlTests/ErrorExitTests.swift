import Foundation
import LBStore
import Testing
@testable import LBStore

@Suite struct ErrorExitTests {
    /// A database with one backend and one event, for errors to leave as they found it.
    static func seededDatabase(in folder: TestFolder) throws -> String {
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        try store.record(Event(at: .now(), kind: .failure, backendID: backend.id, requestID: "r1", detail: "refused"))
        return path
    }

    @Test(arguments: [
        ["frobnicate"],
        ["add"],
        ["events", "--limit", "many"],
        ["events", "--kind", "explosion"],
        ["events", "--json", "--csv"],
        ["events", "--follow", "--until", "1h"],
        ["weight", "http://127.0.0.1:9001", "heavy"],
        ["add", "http://127.0.0.1:9002", "--weight", "-2"],
        ["audit"],
        ["backends", "--colour"],
        ["why"],
    ])
    func usageErrorsExit64WithTheUsageLineAndChangeNothing(arguments: [String]) throws {
        let folder = try TestFolder()
        let path = try Self.seededDatabase(in: folder)
        let before = try DatabaseSnapshot(path: path)
        let result = try folder.lbctl.run(["--db", path] + arguments)
        #expect(result.status == 64, "\(arguments): \(result.standardError)")
        #expect(result.standardError.contains("Usage: lbctl"), "\(arguments): \(result.standardError)")
        #expect(result.standardOutput.isEmpty)
        #expect(try DatabaseSnapshot(path: path) == before)
    }

    @Test(arguments: [
        ["add", "ftp://127.0.0.1:21"],
        ["add", "http://"],
        ["add", "http://127.0.0.1:99999"],
        ["add", "http://127.0.0.1:0"],
        ["add", "http://a b:80"],
        ["add", "http://127.0.0.1:9002/?x=1"],
        ["add", "http://127.0.0.1:9002/#top"],
        ["add", "127.0.0.1:9002"],
        ["drain", "not a url"],
        ["drain", "http://127.0.0.1:9999"],
        ["remove", "http://127.0.0.1:9999"],
        ["weight", "http://127.0.0.1:9999", "2"],
        ["history", "http://127.0.0.1:9999"],
        ["events", "--backend", "http://127.0.0.1:9999"],
        ["events", "--since", "10"],
        ["prune", "--older-than", "30"],
        ["events", "--since", "1h", "--until", "2h"],
        ["history", "http://127.0.0.1:9001", "--until", "2026-13-01T00:00:00Z"],
        ["audit", "--from", "soon"],
        ["prune", "--older-than", "a while"],
        ["prune", "--older-than=-5d"],
        ["backends", "--at", "soon"],
        ["backends", "--at", "2999-01-01T00:00:00Z"],
        ["backends", "--at", "30d"],
        ["why", "http://127.0.0.1:9999"],
        ["why", "http://127.0.0.1:9001", "--at", "2999-01-01T00:00:00Z"],
        ["why", "http://127.0.0.1:9001", "--at", "30d"],
        ["why", "http://127.0.0.1:9001", "--at", "soon"],
        ["events", "--since", "5000000000000000000ms5000000000000000000ms"],
        ["prune", "--older-than", "99999999999999999h"],
    ])
    func malformedValuesAndUnknownBackendsExit65WithOneLineAndChangeNothing(arguments: [String]) throws {
        let folder = try TestFolder()
        let path = try Self.seededDatabase(in: folder)
        let before = try DatabaseSnapshot(path: path)
        let result = try folder.lbctl.run(["--db", path] + arguments)
        #expect(result.status == 65, "\(arguments): \(result.standardError)")
        #expect(result.errorLines.count == 1, "\(arguments): \(result.standardError)")
        #expect(result.errorLines.first?.hasPrefix("lbctl: ") == true)
        #expect(result.standardOutput.isEmpty)
        #expect(try DatabaseSnapshot(path: path) == before)
    }

    @Test(arguments: [["backends"], ["events"], ["history", "http://127.0.0.1:9001"], ["audit", "--from", "1h"],
                      ["add", "http://127.0.0.1:9001"], ["drain", "http://127.0.0.1:9001"], ["prune", "--older-than", "1d"]])
    func aMissingDatabaseExits66AndIsNotCreated(arguments: [String]) throws {
        let folder = try TestFolder()
        let path = folder.path("absent.sqlite3")
        let result = try folder.lbctl.run(["--db", path] + arguments)
        #expect(result.status == 66)
        #expect(result.errorLines == ["lbctl: database \(path) does not exist"])
        #expect(!FileManager.default.fileExists(atPath: path))
        // The default path is lb.sqlite3 in the working directory, and is not created either.
        let defaulted = try folder.lbctl.run(arguments)
        #expect(defaulted.status == 66)
        #expect(!FileManager.default.fileExists(atPath: folder.path("lb.sqlite3")))
    }

    @Test func anotherApplicationsDatabaseExits66AndIsLeftAlone() throws {
        let folder = try TestFolder()
        let path = folder.path("other.sqlite3")
        let other = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)")
        other.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for arguments in [["backends"], ["add", "http://127.0.0.1:9001"], ["prune", "--older-than", "1d"]] {
            let result = try folder.lbctl.run(["--db", path] + arguments)
            #expect(result.status == 66)
            #expect(result.errorLines.count == 1)
            #expect(result.standardError.contains("another application"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func aFileThatIsNotADatabaseOrAFolderExits66() throws {
        let folder = try TestFolder()
        let path = folder.path("notes.txt")
        try String(repeating: "not sqlite\n", count: 200).write(toFile: path, atomically: true, encoding: .utf8)
        for target in [path, folder.url.path] {
            let result = try folder.lbctl.run(["--db", target, "events"])
            #expect(result.status == 66)
            #expect(result.errorLines.count == 1)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("not sqlite"))
    }
}
