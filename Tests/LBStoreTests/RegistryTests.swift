import Foundation
import Testing
@testable import LBStore

@Suite struct RegistryTests {
    @Test(arguments: StoreEngine.allCases)
    func backendsRoundTripThroughTheDatabaseWithEveryChangeLogged(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let location = try engine.makeLocation(in: folder)
        let t0 = Timestamp(milliseconds: 1_700_000_000_000)
        do {
            let store = try Store(location: location)
            try store.addBackend(url: "http://127.0.0.1:9001", weight: 2, origin: .config, actor: "alice", at: t0)
            try store.addBackend(url: "http://127.0.0.1:9002", actor: "alice", at: t0.adding(milliseconds: 1))
            try store.setAdminState(.drained, url: "http://127.0.0.1:9001", actor: "bob", at: t0.adding(milliseconds: 2))
            try store.setWeight(5, url: "http://127.0.0.1:9002", actor: "bob", at: t0.adding(milliseconds: 3))
            try store.removeBackend(url: "http://127.0.0.1:9002", actor: "carol", at: t0.adding(milliseconds: 4))
        }
        let store = try Store(location: location, mode: .existing)
        let live = try store.backends()
        #expect(live.map(\.url) == ["http://127.0.0.1:9001"])
        #expect(live[0].adminState == .drained)
        #expect(live[0].weight == 2)
        #expect(live[0].origin == .config)
        #expect(live[0].health == .unknown)
        #expect(live[0].addedAt == t0)
        let all = try store.backends(includeRemoved: true)
        #expect(all.count == 2)
        #expect(all[1].removedAt == t0.adding(milliseconds: 4))
        #expect(all[1].weight == 5)

        let changes = try store.events(EventQuery(kinds: [.adminChange]))
        #expect(changes.count == 5)
        #expect(changes.map(\.backendURL) == ["http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9001",
                                              "http://127.0.0.1:9002", "http://127.0.0.1:9002"])
        #expect(changes[2].detail == "admin_state enabled->drained by=bob")
        #expect(changes[2].data == EventData(action: "admin_state", from: "enabled", to: "drained", actor: "bob"))
        #expect(changes[0].data?.origin == "config" && changes[0].data?.weight == 2)
        #expect(changes[3].data?.from == "1" && changes[3].data?.to == "5")
        #expect(changes[4].data?.action == "remove" && changes[4].data?.actor == "carol")
        #expect(changes[3].detail == "weight 1->5 by=bob")
        #expect(changes[4].detail?.hasSuffix("by=carol") == true)
    }

    @Test(arguments: StoreEngine.allCases)
    func readdingARemovedBackendKeepsItsIdentityAndHistory(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        let first = try store.addBackend(url: "http://127.0.0.1:9001", actor: "a")
        try store.record(Event(at: .now(), kind: .failure, backendID: first.id, detail: "refused"))
        try store.removeBackend(url: "http://127.0.0.1:9001", actor: "a")
        #expect(try store.backends().isEmpty)
        let again = try store.addBackend(url: "http://127.0.0.1:9001", weight: 4, actor: "a")
        #expect(again.id == first.id)
        #expect(again.weight == 4)
        #expect(try store.events(EventQuery(backendID: first.id, kinds: [.failure])).count == 1)
    }

    @Test(arguments: StoreEngine.allCases)
    func mutationsOfUnknownOrDuplicateBackendsFailAndChangeNothing(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.addBackend(url: "http://127.0.0.1:9001", actor: "a")
        let before = try store.lastEventID()
        #expect(throws: StoreError(.unknownBackend, "no backend http://127.0.0.1:9999 in the registry")) {
            try store.setAdminState(.drained, url: "http://127.0.0.1:9999", actor: "a")
        }
        let duplicate = #expect(throws: StoreError.self) { try store.addBackend(url: "http://127.0.0.1:9001", actor: "a") }
        #expect(duplicate?.kind == .invalidValue)
        let negative = #expect(throws: StoreError.self) { try store.setWeight(-1, url: "http://127.0.0.1:9001", actor: "a") }
        #expect(negative?.kind == .invalidValue)
        #expect(try store.lastEventID() == before)
        #expect(try store.backends().count == 1)
    }

    @Test(arguments: StoreEngine.allCases)
    func reconcilingTheConfigurationNeverDuplicatesAndAddsWhatIsMissing(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.addBackend(url: "http://127.0.0.1:9001", weight: 3, actor: "op")
        try store.reconcile(declared: [DeclaredBackend(url: "http://127.0.0.1:9001"), DeclaredBackend(url: "http://127.0.0.1:9002")])
        let merged = try store.backends()
        #expect(merged.map(\.url) == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"])
        #expect(merged[0].weight == 3)
        #expect(merged.allSatisfy { $0.origin == .config })
        try store.reconcile(declared: [DeclaredBackend(url: "http://127.0.0.1:9002"), DeclaredBackend(url: "http://127.0.0.1:9001")])
        #expect(try store.backends().count == 2)
    }

    /// Three daemons of a fleet starting at once reconcile the same backends into one new
    /// database, each on its own connection: every one succeeds and each backend is there once.
    @Test(arguments: StoreEngine.allCases)
    func daemonsReconcilingAtOnceEachSucceedAndAddEachBackendOnce(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let location = try engine.makeLocation(in: folder)
        _ = try Store(location: location)
        let declared = (1...20).map { DeclaredBackend(url: "http://127.0.0.1:\(9000 + $0)") }
        let lock = NSLock()
        nonisolated(unsafe) var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            do {
                let store = try Store(location: location, mode: .existing)
                _ = try store.reconcile(declared: declared)
            } catch {
                lock.withLock { failures.append("\(error)") }
            }
        }
        #expect(failures == [])
        let store = try Store(location: location, mode: .existing)
        #expect(try store.backends().map(\.url) == declared.map(\.url))
        #expect(try store.events(EventQuery(kinds: [.adminChange])).count == declared.count, "one addition each")
    }
}

@Suite struct ConfigVersusRuntimeTests {
    private let a = "http://127.0.0.1:9001"
    private let b = "http://127.0.0.1:9002"
    private let c = "http://127.0.0.1:9003"

    @Test(arguments: StoreEngine.allCases)
    func aConfigBackendNoLongerDeclaredIsRemovedAndARuntimeOneStays(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.reconcile(declared: [DeclaredBackend(url: a), DeclaredBackend(url: b)])
        try store.addBackend(url: c, actor: "op")
        let differences = try store.reconcile(declared: [DeclaredBackend(url: a)])
        #expect(try store.backends().map(\.url) == [a, c])
        #expect(try store.backend(url: b)?.isRemoved == true)
        #expect(differences == [ConfigDifference(url: b, field: .registered, config: "absent", runtime: "present",
                                                 winner: .config)])
        let removal = try #require(try store.events(EventQuery(kinds: [.adminChange])).last)
        #expect(removal.backendURL == b && removal.data?.action == "remove" && removal.data?.actor == "lbserver")
    }

    @Test(arguments: StoreEngine.allCases)
    func anOperatorsChangeHoldsUntilTheConfigurationChangesThatField(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.reconcile(declared: [DeclaredBackend(url: a, weight: 2, adminState: .enabled)])
        try store.setWeight(7, url: a, actor: "op")
        try store.setAdminState(.drained, url: a, actor: "op")

        // Same configuration: the operator's values hold, and the differences say so.
        let same = try store.reconcile(declared: [DeclaredBackend(url: a, weight: 2, adminState: .enabled)])
        #expect(try store.backend(url: a)?.weight == 7)
        #expect(try store.backend(url: a)?.adminState == .drained)
        #expect(Set(same.map { "\($0.field)=\($0.winner)" }) == ["weight=runtime", "admin_state=runtime"])

        // The configuration changes the weight only: weight follows it, the drain still holds.
        let changed = try store.reconcile(declared: [DeclaredBackend(url: a, weight: 4, adminState: .enabled)])
        #expect(try store.backend(url: a)?.weight == 4)
        #expect(try store.backend(url: a)?.adminState == .drained)
        #expect(Set(changed.map { "\($0.field)=\($0.winner)" }) == ["weight=config", "admin_state=runtime"])

        // Now it changes the admin state too: the configuration wins that field.
        let drainedByConfig = try store.reconcile(declared: [DeclaredBackend(url: a, weight: 4, adminState: .disabled)])
        #expect(try store.backend(url: a)?.adminState == .disabled)
        #expect(drainedByConfig.map { "\($0.field)=\($0.winner)" } == ["admin_state=config"])
        let last = try #require(try store.events(EventQuery(kinds: [.adminChange])).last)
        #expect(last.data?.action == "admin_state" && last.data?.to == "disabled" && last.data?.actor == "lbserver")

        // The configuration stops declaring both: that changed them too, back to the defaults, as a
        // per-backend setting left out goes back to its default. One rule for every field.
        let dropped = try store.reconcile(declared: [DeclaredBackend(url: a)])
        #expect(try store.backend(url: a)?.weight == 1)
        #expect(try store.backend(url: a)?.adminState == .enabled)
        #expect(Set(dropped.map { "\($0.field)=\($0.winner)" }) == ["weight=config", "admin_state=config"])
        let reasons = try store.events(EventQuery(kinds: [.adminChange])).suffix(2).compactMap { $0.data?.command }
        #expect(reasons == ["startup: the configuration changed weight", "startup: the configuration changed admin_state"])

        // Never declared since: the operator's changes hold at every start.
        try store.setWeight(9, url: a, actor: "op")
        try store.setAdminState(.drained, url: a, actor: "op")
        #expect(try store.reconcile(declared: [DeclaredBackend(url: a)]).isEmpty)
        #expect(try store.backend(url: a)?.weight == 9)
        #expect(try store.backend(url: a)?.adminState == .drained)
    }

    @Test(arguments: StoreEngine.allCases)
    func aRuntimeBackendThatTheConfigurationDeclaresBecomesAConfigBackend(_ engine: StoreEngine) throws {
        let folder = try TemporaryDirectory()
        let store = try engine.makeStore(in: folder)
        try store.addBackend(url: a, weight: 5, actor: "op")
        let differences = try store.reconcile(declared: [DeclaredBackend(url: a)])
        #expect(try store.backend(url: a)?.origin == .config)
        #expect(try store.backend(url: a)?.weight == 5)
        #expect(differences == [ConfigDifference(url: a, field: .origin, config: "config", runtime: "runtime", winner: .config)])
    }
}

@Suite struct RegistryVersionTests {
    @Test func theRegistryVersionMovesOnOperatorChangesButNotOnHealthWrites() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let start = try store.registryVersion()
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        let afterAdd = try store.registryVersion()
        #expect(afterAdd > start)
        let writer = try EventWriter(path: path)
        writer.recordHealth(backendID: backend.id, health: .down, since: .now())
        writer.record(Event(at: .now(), kind: .failure, backendID: backend.id))
        #expect(writer.flush())
        writer.close()
        #expect(try store.registryVersion() == afterAdd)
        #expect(try store.backend(url: backend.url)?.health == .down)
        try store.setAdminState(.drained, url: backend.url, actor: "t")
        #expect(try store.registryVersion() > afterAdd)
    }
}
