import Foundation
import LBStore
import Testing

/// `lbctl set URL SETTING=VALUE ...` on the real binary, what `lbctl backends` shows of the
/// settings, and `backends --at` answering what they were.
@Suite struct SetCommandTests {
    static let url = "http://127.0.0.1:9001"

    @Test func setChangesSeveralSettingsAtOnceEachLoggedAndBackendsShowsThem() throws {
        let folder = try TestFolder()
        let path = try MutationCommandTests.emptyDatabase(in: folder)
        #expect(try folder.lbctl.run(["--db", path, "add", Self.url]).status == 0)
        let observer = try Store(path: path, mode: .readOnly)

        let set = try folder.lbctl.run(["--db", path, "set", Self.url, "backup=true", "max_connections=100",
                                        "connect_timeout=500ms"])
        #expect(set.status == 0, "\(set.standardError)")
        #expect(set.standardOutput
            == "\(Self.url): backup false -> true, max_connections none -> 100, connect_timeout none -> 500ms\n")
        #expect(try observer.backend(url: Self.url)?.settings
            == BackendSettings(backup: true, maxConnections: 100, connectTimeoutMilliseconds: 500))
        let user = MutationCommandTests.expectedUser
        let changes = try observer.events(EventQuery(kinds: [.adminChange])).dropFirst()
        #expect(changes.map(\.detail) == ["backup false->true by=\(user)", "max_connections none->100 by=\(user)",
                                          "connect_timeout none->500ms by=\(user)"])
        #expect(changes.first?.data?.command?.hasSuffix("set \(Self.url) backup=true max_connections=100 connect_timeout=500ms")
            == true)

        let again = try folder.lbctl.run(["--db", path, "set", Self.url, "backup=true"])
        #expect(again.status == 0)
        #expect(again.standardOutput == "\(Self.url) already has backup=true; nothing changed\n")
        #expect(try observer.events(EventQuery(kinds: [.adminChange])).count == 4)

        let json = try folder.lbctl.run(["--db", path, "backends", "--json"])
        let row = try #require(try JSONDocument.array(json.standardOutput).first)
        #expect(row["backup"] as? Bool == true)
        #expect(row["max_connections"] as? Int == 100)
        #expect(row["connect_timeout_ms"] as? Int == 500)
        #expect(row["response_timeout_ms"] is NSNull)
        #expect(row["tls_verify"] as? Bool == true)
        let table = try folder.lbctl.run(["--db", path, "backends"])
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("BACKUP") == true)
        let backupColumn = try #require(lines.first?.range(of: "BACKUP")).lowerBound.utf16Offset(in: lines[0])
        #expect(lines.count > 1 && lines[1].dropFirst(backupColumn).hasPrefix("yes"))
        let csv = try folder.lbctl.run(["--db", path, "backends", "--csv"]).standardOutput
        #expect(csv.hasPrefix("url,health,health_since,admin_state,weight,added_at,origin,uptime_24h,failures_24h,"
                              + "removed_at,backup,max_connections,connect_timeout_ms,response_timeout_ms,tls_verify\n"))

        // `none` gives a limit back to the daemon's own setting.
        #expect(try folder.lbctl.run(["--db", path, "set", Self.url, "max_connections=none"]).status == 0)
        #expect(try observer.backend(url: Self.url)?.settings.maxConnections == nil)
    }

    @Test func aSettingItCannotTakeIsRefusedAndChangesNothing() throws {
        let folder = try TestFolder()
        let path = try MutationCommandTests.emptyDatabase(in: folder)
        #expect(try folder.lbctl.run(["--db", path, "add", Self.url]).status == 0)
        let observer = try Store(path: path, mode: .readOnly)
        let before = try observer.lastEventID()
        let refusals: [([String], String)] = [
            (["backup=true", "colour=blue"], "unknown setting 'colour'"),
            (["max_connections=0"], "max_connections must be a whole number of at least 1 or none, not '0'"),
            (["connect_timeout=soon"], "connect_timeout must be a duration of at least 1ms (250ms, 2s) or none, not 'soon'"),
            (["backup"], "'backup' is not SETTING=VALUE"),
            (["backup=true", "tls_verify=false"], "tls_verify is for https:// backends; \(Self.url) is plain HTTP"),
        ]
        for (words, message) in refusals {
            let result = try folder.lbctl.run(["--db", path, "set", Self.url] + words)
            #expect(result.status == 65, "\(words)")
            #expect(result.standardError.hasPrefix("lbctl: \(message)"), "\(result.standardError)")
        }
        let unknown = try folder.lbctl.run(["--db", path, "set", "http://127.0.0.1:9999", "backup=true"])
        #expect(unknown.status == 65)
        #expect(try folder.lbctl.run(["--db", path, "set", Self.url]).status == 64)
        #expect(try observer.lastEventID() == before)
        #expect(try observer.backend(url: Self.url)?.settings == BackendSettings())
    }

    @Test func backendsAtSaysWhatTheSettingsWereThen() throws {
        let folder = try TestFolder()
        let path = try MutationCommandTests.emptyDatabase(in: folder)
        let store = try Store(path: path)
        let start = Timestamp.now().adding(milliseconds: -60 * 60_000)
        func minute(_ n: Int64) -> Timestamp { start.adding(milliseconds: n * 60_000) }
        try store.reconcile(declared: [DeclaredBackend(url: Self.url, settings: [.maxConnections: 20])], at: minute(0))
        try store.setSettings([(.backup, 1), (.responseTimeout, 5_000)], url: Self.url, actor: "op", at: minute(10))
        try store.setSettings([(.backup, 0), (.maxConnections, nil)], url: Self.url, actor: "op", at: minute(20))

        func row(at instant: Timestamp) throws -> [String: Any] {
            let result = try folder.lbctl.run(["--db", path, "backends", "--at", instant.rfc3339, "--json"])
            #expect(result.status == 0, "\(result.standardError)")
            return try #require(try JSONDocument.array(result.standardOutput).first)
        }
        let added = try row(at: minute(5))
        #expect(added["backup"] as? Bool == false)
        #expect(added["max_connections"] as? Int == 20, "the add declared it")
        #expect(added["response_timeout_ms"] is NSNull)
        let backup = try row(at: minute(15))
        #expect(backup["backup"] as? Bool == true)
        #expect(backup["max_connections"] as? Int == 20)
        #expect(backup["response_timeout_ms"] as? Int == 5_000)
        let after = try row(at: minute(25))
        #expect(after["backup"] as? Bool == false)
        #expect(after["max_connections"] is NSNull)
        #expect(after["response_timeout_ms"] as? Int == 5_000)
    }
}
