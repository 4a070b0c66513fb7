import Foundation
import LBStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct MutationCommandTests {
    /// The OS user the binary should name, found independently of its code.
    static var expectedUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? ""
    }

    static func emptyDatabase(in folder: TestFolder) throws -> String {
        let path = folder.path("lb.sqlite3")
        _ = try Store(path: path)
        return path
    }

    @Test func anAddIsSeenFromASecondConnectionWithAnAdminChangeNamingTheOSUser() throws {
        let folder = try TestFolder()
        let path = try Self.emptyDatabase(in: folder)
        let observer = try Store(path: path, mode: .readOnly)
        #expect(try observer.backends().isEmpty)

        let result = try folder.lbctl.run(["--db", path, "add", "http://127.0.0.1:9001", "--weight", "3"])
        #expect(result.status == 0)
        #expect(result.standardOutput == "added http://127.0.0.1:9001 (weight 3, enabled)\n")

        let backends = try observer.backends()
        #expect(backends.map(\.url) == ["http://127.0.0.1:9001"])
        #expect(backends.first?.weight == 3)
        #expect(backends.first?.origin == .runtime)
        let changes = try observer.events(EventQuery(kinds: [.adminChange]))
        #expect(changes.count == 1)
        #expect(changes.first?.detail == "add weight=3 origin=runtime by=\(Self.expectedUser)")
    }

    @Test func drainEnableDisableAndWeightChangeTheRegistryAndEachIsLogged() throws {
        let folder = try TestFolder()
        let path = try Self.emptyDatabase(in: folder)
        let url = "http://127.0.0.1:9001"
        #expect(try folder.lbctl.run(["--db", path, "add", url]).status == 0)
        let observer = try Store(path: path, mode: .readOnly)

        let drain = try folder.lbctl.run(["--db", path, "drain", url])
        #expect(drain.standardOutput == "\(url): enabled -> drained\n")
        #expect(try observer.backend(url: url)?.adminState == .drained)
        #expect(try folder.lbctl.run(["--db", path, "disable", url]).status == 0)
        #expect(try observer.backend(url: url)?.adminState == .disabled)
        #expect(try folder.lbctl.run(["--db", path, "enable", url]).status == 0)
        #expect(try observer.backend(url: url)?.adminState == .enabled)
        let weight = try folder.lbctl.run(["--db", path, "weight", url, "7"])
        #expect(weight.standardOutput == "\(url): weight 1 -> 7\n")
        #expect(try observer.backend(url: url)?.weight == 7)

        let details = try observer.events(EventQuery(kinds: [.adminChange])).map(\.detail)
        let user = Self.expectedUser
        #expect(details == [
            "add weight=1 origin=runtime by=\(user)",
            "admin_state enabled->drained by=\(user)",
            "admin_state drained->disabled by=\(user)",
            "admin_state disabled->enabled by=\(user)",
            "weight 1->7 by=\(user)",
        ])
    }

    @Test func aChangeToTheStateABackendAlreadyHasRecordsNothing() throws {
        let folder = try TestFolder()
        let path = try Self.emptyDatabase(in: folder)
        let url = "http://127.0.0.1:9001"
        _ = try folder.lbctl.run(["--db", path, "add", url])
        let before = try DatabaseSnapshot(path: path)
        let again = try folder.lbctl.run(["--db", path, "enable", url])
        #expect(again.status == 0)
        #expect(again.standardOutput.contains("already enabled; nothing changed"))
        let sameWeight = try folder.lbctl.run(["--db", path, "weight", url, "1"])
        #expect(sameWeight.status == 0)
        #expect(try DatabaseSnapshot(path: path) == before)
    }

    @Test func removeKeepsTheBackendsHistoryAndAddBringsItBack() throws {
        let folder = try TestFolder()
        let path = try Self.emptyDatabase(in: folder)
        let url = "http://127.0.0.1:9001"
        _ = try folder.lbctl.run(["--db", path, "add", url])
        let store = try Store(path: path)
        let backend = try #require(try store.backend(url: url))
        try store.record(Event(at: .now(), kind: .failure, backendID: backend.id, requestID: "r1", detail: "refused"))

        let removed = try folder.lbctl.run(["--db", path, "remove", url])
        #expect(removed.status == 0)
        #expect(removed.standardOutput == "removed \(url) (its history is kept)\n")
        #expect(try store.backends().isEmpty)
        #expect(try store.backend(url: url)?.isRemoved == true)
        // Its events still name it.
        let events = try JSONDocument.array(try folder.lbctl.run(["--db", path, "events", "--json", "--backend", url,
                                                                  "--kind", "failure"]).standardOutput)
        #expect(events.map { $0["request_id"] as? String } == ["r1"])
        // A second remove finds no live backend.
        #expect(try folder.lbctl.run(["--db", path, "remove", url]).status == 65)

        #expect(try folder.lbctl.run(["--db", path, "add", url]).status == 0)
        #expect(try store.backend(url: url)?.id == backend.id)
    }

    @Test func urlsAreTrimmedAndWrittenTheWayTheDaemonWritesThem() throws {
        let folder = try TestFolder()
        let path = try Self.emptyDatabase(in: folder)
        let added = try folder.lbctl.run(["--db", path, "add", "  HTTP://Example.COM  "])
        #expect(added.status == 0)
        let canonical = try BackendURL(parsing: "http://example.com").text
        #expect(try Store(path: path, mode: .readOnly).backends().map(\.url) == [canonical])
        // Any spelling of the same backend finds it.
        #expect(try folder.lbctl.run(["--db", path, "drain", "http://EXAMPLE.com:80/"]).status == 0)
        #expect(try Store(path: path, mode: .readOnly).backend(url: canonical)?.adminState == .drained)
        // The same backend twice is refused.
        let duplicate = try folder.lbctl.run(["--db", path, "add", "http://example.com:80"])
        #expect(duplicate.status == 65)
        #expect(duplicate.errorLines.count == 1)
    }

    @Test func initCreatesTheDatabaseThatMutationsThenUse() throws {
        let folder = try TestFolder()
        let path = folder.path("fresh.sqlite3")
        #expect(try folder.lbctl.run(["--db", path, "add", "http://127.0.0.1:9001"]).status == 66)
        #expect(!FileManager.default.fileExists(atPath: path))
        let created = try folder.lbctl.run(["--db", path, "init"])
        #expect(created.status == 0)
        #expect(try folder.lbctl.run(["--db", path, "add", "http://127.0.0.1:9001"]).status == 0)
        #expect(try Store(path: path, mode: .readOnly).backends().count == 1)
    }

    @Test func pruneDeletesOnlyWhatIsOlderThanTheAge() throws {
        let folder = try TestFolder()
        let path = try Self.emptyDatabase(in: folder)
        let store = try Store(path: path)
        let now = Timestamp.now()
        for days in [40, 31, 29, 1] {
            try store.record(Event(at: now.adding(milliseconds: -Int64(days) * 86_400_000), kind: .failure,
                                   detail: "\(days) days ago"))
        }
        let result = try folder.lbctl.run(["--db", path, "prune", "--older-than", "30d"])
        #expect(result.status == 0)
        #expect(result.standardOutput.hasPrefix("pruned 2 events and 0 health runs older than "))
        #expect(try store.events(EventQuery(kinds: [.failure])).map(\.detail) == ["29 days ago", "1 days ago"])
    }
}
