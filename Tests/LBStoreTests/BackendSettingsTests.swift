import Foundation
import Testing
@testable import LBStore

/// The per-backend settings the registry holds (backup, limits, TLS verification): set by an
/// operator, declared by the configuration, and the rule between the two, on both engines.
@Suite struct BackendSettingsTests {
    private let a = "http://127.0.0.1:9001"
    private let secure = "https://127.0.0.1:9443"

    @Test(arguments: StoreEngine.allCases)
    func anOperatorsSettingsAreStoredAndEachChangeIsLogged(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.addBackend(url: a, actor: "op")
        #expect(try store.backend(url: a)?.settings == BackendSettings())
        let version = try store.registryVersion()
        let changes = try store.setSettings([(.backup, 1), (.maxConnections, 100), (.connectTimeout, 500)],
                                            url: a, actor: "alice", command: "lbctl set")
        #expect(changes.map(\.description) == ["backup false->true", "max_connections none->100",
                                               "connect_timeout none->500ms"])
        #expect(try store.backend(url: a)?.settings == BackendSettings(backup: true, maxConnections: 100,
                                                                       connectTimeoutMilliseconds: 500))
        #expect(try store.registryVersion() > version)
        let events = try store.events(EventQuery(kinds: [.adminChange])).suffix(3)
        #expect(events.map(\.detail) == ["backup false->true by=alice", "max_connections none->100 by=alice",
                                         "connect_timeout none->500ms by=alice"])
        #expect(events.first?.data == EventData(action: "backup", from: "false", to: "true", actor: "alice",
                                                command: "lbctl set"))

        // Asking again for what it has changes nothing and writes nothing; `none` clears a limit.
        let last = try store.lastEventID()
        #expect(try store.setSettings([(.backup, 1)], url: a, actor: "alice").isEmpty)
        #expect(try store.lastEventID() == last)
        try store.setSettings([(.maxConnections, nil)], url: a, actor: "alice")
        #expect(try store.backend(url: a)?.settings.maxConnections == nil)
        #expect(try store.events(EventQuery(kinds: [.adminChange])).last?.data?.to == "none")
    }

    @Test(arguments: StoreEngine.allCases)
    func tlsVerifyIsRefusedForAPlainHTTPBackendAndUnknownBackendsChangeNothing(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.addBackend(url: a, actor: "op")
        try store.addBackend(url: secure, actor: "op")
        let before = try store.lastEventID()
        let plain = #expect(throws: StoreError.self) {
            try store.setSettings([(.backup, 1), (.tlsVerify, 0)], url: a, actor: "op")
        }
        #expect(plain?.kind == .invalidValue)
        #expect(try store.backend(url: a)?.settings.backup == false)
        let unknown = #expect(throws: StoreError.self) {
            try store.setSettings([(.backup, 1)], url: "http://127.0.0.1:9999", actor: "op")
        }
        #expect(unknown?.kind == .unknownBackend)
        #expect(try store.lastEventID() == before)
        try store.setSettings([(.tlsVerify, 0)], url: secure, actor: "op")
        #expect(try store.backend(url: secure)?.settings.tlsVerify == false)
    }

    @Test(arguments: StoreEngine.allCases)
    func anOperatorsSettingHoldsUntilTheConfigurationChangesThatSetting(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.reconcile(declared: [DeclaredBackend(url: a, settings: [.backup: 1, .maxConnections: 100])])
        #expect(try store.backend(url: a)?.settings == BackendSettings(backup: true, maxConnections: 100))
        let add = try #require(try store.events(EventQuery(kinds: [.adminChange])).last)
        #expect(add.data?.settings == ["backup": "true", "max_connections": "100"])
        #expect(add.detail == "add weight=1 origin=config backup=true max_connections=100 by=lbserver")

        try store.setSettings([(.backup, 0), (.maxConnections, 50)], url: a, actor: "op")
        // The same configuration: the operator's values hold, and the differences say so.
        let same = try store.reconcile(declared: [DeclaredBackend(url: a, settings: [.backup: 1, .maxConnections: 100])])
        #expect(try store.backend(url: a)?.settings == BackendSettings(backup: false, maxConnections: 50))
        #expect(Set(same.map { "\($0.field)=\($0.winner)" }) == ["backup=runtime", "max_connections=runtime"])

        // The configuration changes max_connections only: that follows it, the backup mark holds.
        let changed = try store.reconcile(declared: [DeclaredBackend(url: a, settings: [.backup: 1, .maxConnections: 200])])
        #expect(try store.backend(url: a)?.settings == BackendSettings(backup: false, maxConnections: 200))
        #expect(Set(changed.map { "\($0.field)=\($0.winner)" }) == ["backup=runtime", "max_connections=config"])
        let last = try #require(try store.events(EventQuery(kinds: [.adminChange])).last)
        #expect(last.data == EventData(action: "max_connections", from: "50", to: "200", actor: "lbserver",
                                       command: "startup: the configuration changed max_connections"))

        // A setting the configuration stops declaring has changed too: back to its default.
        try store.setSettings([(.backup, 1)], url: a, actor: "op")
        let dropped = try store.reconcile(declared: [DeclaredBackend(url: a)])
        #expect(try store.backend(url: a)?.settings == BackendSettings())
        #expect(Set(dropped.map { "\($0.field)=\($0.winner)" }) == ["backup=config", "max_connections=config"])

        // Never declared: an operator's setting holds at every start.
        try store.setSettings([(.responseTimeout, 5_000)], url: a, actor: "op")
        #expect(try store.reconcile(declared: [DeclaredBackend(url: a)]).isEmpty)
        #expect(try store.backend(url: a)?.settings.responseTimeoutMilliseconds == 5_000)
    }

    @Test(arguments: StoreEngine.allCases)
    func aBackendBroughtBackStartsFromTheDefaultSettings(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.addBackend(url: a, actor: "op")
        try store.setSettings([(.backup, 1), (.maxConnections, 10)], url: a, actor: "op")
        try store.removeBackend(url: a, actor: "op")
        try store.addBackend(url: a, actor: "op")
        #expect(try store.backend(url: a)?.settings == BackendSettings())
    }

    @Test func theOutboxCopyOfTheRegistryKeepsTheSettings() throws {
        let folder = try TemporaryDirectory()
        let store = try Store(path: folder.path("outbox.sqlite3"))
        let settings = BackendSettings(backup: true, maxConnections: 5, connectTimeoutMilliseconds: 250,
                                       responseTimeoutMilliseconds: 3_000, tlsVerify: false)
        let fleet = Backend(id: 7, url: secure, weight: 2, adminState: .enabled, health: .up,
                            healthSince: Timestamp(milliseconds: 1), addedAt: Timestamp(milliseconds: 1), removedAt: nil,
                            origin: .config, settings: settings)
        try store.snapshotRegistry([fleet])
        #expect(try store.backend(url: secure)?.settings == settings)
        var changed = fleet
        changed.settings.backup = false
        try store.snapshotRegistry([changed])
        #expect(try store.backend(url: secure)?.settings.backup == false)
    }

    @Test func everySettingIsAFieldTheStartupDifferencesCanName() {
        #expect(BackendSetting.allCases.allSatisfy { ConfigDifference.Field(rawValue: $0.rawValue) != nil })
    }

    @Test func valuesAreReadAsTheyAreWrittenAndNonsenseIsRefused() throws {
        let timeout = BackendSetting.connectTimeout
        #expect([500, 2_000, 90_000, 1_500, nil].map(timeout.text) == ["500ms", "2s", "1m30s", "1500ms", "none"])
        for value: Int64? in [500, 2_000, 90_000, 1_500, nil] {
            #expect(try timeout.value(parsing: timeout.text(value)) == value)
        }
        #expect(try BackendSetting.backup.value(parsing: "TRUE") == 1)
        #expect(try BackendSetting.maxConnections.value(parsing: "none") == nil)
        for (setting, text) in [(BackendSetting.backup, "yes"), (.maxConnections, "0"), (.connectTimeout, "0s"),
                                (.responseTimeout, "soon"), (.tlsVerify, "none")] {
            let error = #expect(throws: StoreError.self) { try setting.value(parsing: text) }
            #expect(error?.kind == .invalidValue)
        }
    }
}
