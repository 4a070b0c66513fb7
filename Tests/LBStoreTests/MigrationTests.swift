import CSQLite
import Foundation
import Testing
@testable import LBStore

@Suite struct MigrationTests {
    @Test func anEmptyFileIsCreatedAtTheCurrentVersionInWALModeWithOwnerOnlyPermissions() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        #expect(try store.schemaVersion() == Schema.currentVersion)
        try store.withConnection { connection in
            let connection = try #require(connection as? SQLiteConnection)
            #expect(Int32(truncatingIfNeeded: try connection.integerPragma("application_id")) == Schema.applicationID)
            #expect(try connection.integerPragma("foreign_keys") == 1)
            let mode = try connection.statement("PRAGMA journal_mode")
            _ = try mode.step()
            #expect(mode.text(0) == "wal")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
        #expect(permissions & 0o077 == 0, "database readable by others: \(String(permissions, radix: 8))")
    }

    @Test(arguments: 0..<Schema.currentVersion)
    func everyOlderVersionMigratesToTheCurrentOneKeepingItsData(from version: Int) throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("old.sqlite3")
        do {
            let connection = try SQLiteConnection(path: path, mode: .readWriteCreate)
            try Migrator.prepare(connection, to: version)
            #expect(try connection.integerPragma("user_version") == Int64(version))
            if version >= 1 {
                try connection.execute("""
                    INSERT INTO backends (url, weight, health_since, added_at) VALUES ('http://127.0.0.1:9001', 3, 5, 5);
                    INSERT INTO events (at, kind, backend_id, detail) VALUES (7, 'failure', 1, 'refused');
                    UPDATE balancer_state SET cursor = 42;
                    """)
            }
            if version >= 2 {
                try connection.execute("""
                    INSERT INTO health_runs (backend_id, passed, first_at, last_at, count, latency_min_ms,
                                             latency_max_ms, latency_sum_ms) VALUES (1, 1, 10, 20, 3, 1, 2, 4.5);
                    """)
            }
            connection.close()
        }
        let store = try Store(path: path, mode: .existing)
        #expect(try store.schemaVersion() == Schema.currentVersion)
        if version >= 1 {
            let backend = try #require(try store.backend(url: "http://127.0.0.1:9001"))
            #expect(backend.weight == 3)
            #expect(backend.origin == .runtime)
            let events = try store.events(EventQuery())
            #expect(events.map(\.kind) == [.failure])
            #expect(events.first?.backendURL == "http://127.0.0.1:9001")
            #expect(try store.balancerState().cursor == 42)
            #expect(backend.settings == BackendSettings())
        }
        if version >= 2 {
            let history = try store.healthHistory(backendID: 1, in: .all)
            #expect(history.runs.count == 1)
            #expect(history.runs.first?.averageLatencyMilliseconds == 1.5)
        }
        // The current schema accepts what a fresh one does.
        try store.addBackend(url: "http://127.0.0.1:9002", actor: "test")
        #expect(try store.backends().contains { $0.url == "http://127.0.0.1:9002" })
    }

    @Test(arguments: 1..<Schema.currentVersion)
    func eventsWrittenBeforeTheCountColumnCountOnceAndCoalescedRowsKeepTheirCount(from version: Int) throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("old.sqlite3")
        do {
            let connection = try SQLiteConnection(path: path, mode: .readWriteCreate)
            try Migrator.prepare(connection, to: version)
            try connection.execute("""
                INSERT INTO events (at, kind, request_id, detail) VALUES (7, 'rejected', 'r1', '503 no backend available');
                INSERT INTO events (at, kind, request_id, detail) VALUES (8, 'rejected', 'r2', '503 no backend available');
                """)
            connection.close()
        }
        let store = try Store(path: path, mode: .existing)
        #expect(try store.events(EventQuery()).map(\.count) == [1, 1])
        try store.record(Event(at: Timestamp(milliseconds: 9), kind: .rejected, requestID: "r3",
                               detail: "503 no backend available", count: 500))
        #expect(try store.eventCounts(in: .all)[.rejected] == 502)
        #expect(try store.countEvents(kind: .rejected, in: .all, detailPrefix: "503") == 502)
        // The column refuses a row that stands for nothing.
        #expect(throws: StoreError.self) {
            try store.withConnection { connection in
                try connection.execute("INSERT INTO events (at, kind, count) VALUES (10, 'rejected', 0)")
            }
        }
    }

    @Test func aRegistryFromBeforeTheSettingsTakesThemAndTheirChangesReachTheDaemons() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("old.sqlite3")
        do {
            let connection = try SQLiteConnection(path: path, mode: .readWriteCreate)
            try Migrator.prepare(connection, to: 9)
            try connection.execute("""
                INSERT INTO backends (url, weight, health_since, added_at, origin, config_weight)
                    VALUES ('http://127.0.0.1:9001', 3, 5, 5, 'config', 3);
                """)
            connection.close()
        }
        let store = try Store(path: path, mode: .existing)
        // The configuration's backup mark, until now in the file only, is the registry's at the next start.
        let differences = try store.reconcile(declared: [
            DeclaredBackend(url: "http://127.0.0.1:9001", weight: 3, settings: [.backup: 1]),
        ])
        #expect(differences.map { "\($0.field)=\($0.winner)" } == ["backup=config"])
        #expect(try store.backend(url: "http://127.0.0.1:9001")?.settings.backup == true)
        // A setting's change moves the registry version, as a weight's does: daemons reload it.
        let version = try store.registryVersion()
        try store.setSettings([(.maxConnections, 10)], url: "http://127.0.0.1:9001", actor: "op")
        #expect(try store.registryVersion() > version)
    }

    @Test func openingTwiceDoesNotMigrateAgain() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        try Store(path: path).addBackend(url: "http://127.0.0.1:1", actor: "test")
        let reopened = try Store(path: path)
        #expect(try reopened.backends().count == 1)
        #expect(try reopened.schemaVersion() == Schema.currentVersion)
    }
}
