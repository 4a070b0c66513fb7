import Foundation
import LBStore
import NIOCore
import NIOPosix
import PostgresTestServer
import Testing

/// Real daemons sharing one PostgreSQL database (the test run's own server): each records under
/// its instance name through its outbox, and a change made with lbctl reaches every one.
@Suite(.serialized) struct FleetOnPostgresEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func twoDaemonsShareTheRegistryAndEachRecordsWhatItSees() throws {
        let folder = try TemporaryFolder()
        let url = try PostgresTestServer.shared.get().makeDatabase()
        let up = try TestBackend(name: "up", group: group)
        let dead = try TestBackend(name: "dead", group: group)
        defer { up.stop(); dead.stop() }
        dead.stop()
        func daemon(_ name: String) throws -> ServerProcess {
            try ServerProcess(lbserver: ["--backends", "\(up.url),\(dead.url)", "--db", url, "--instance", name,
                                         "--outbox", folder.url.appendingPathComponent("outbox-\(name).sqlite3").path,
                                         "--health-interval", "200ms", "--health-down-interval", "200ms"],
                              folder: folder.url)
        }
        let a = try daemon("lb-a")
        defer { a.stop() }
        let portA = try a.waitUntilListening()
        let b = try daemon("lb-b")
        defer { b.stop() }
        let portB = try b.waitUntilListening()
        #expect(try httpRequest(port: portA).text == "up")
        #expect(try httpRequest(port: portB).text == "up")

        let fleet = try Store(location: StoreLocation(parsing: url), mode: .existing)
        // Each daemon saw the dead backend go down and said so, under its own name.
        #expect(waitUntil(timeout: .seconds(15)) {
            let changes = (try? fleet.events(EventQuery(kinds: [.statusChange]))) ?? []
            return Set(changes.filter { $0.backendURL == dead.url }.compactMap(\.instance)) == ["lb-a", "lb-b"]
        })
        #expect(try fleet.backends().count == 2, "both declared the same two backends: none twice")
        // The daemon that added them from its configuration is named on the additions.
        let additions = try fleet.events(EventQuery(kinds: [.adminChange])).filter { $0.data?.action == "add" }
        #expect(additions.count == 2 && additions.allSatisfy { $0.instance == "lb-a" }, "\(additions)")
        let instances = try runProduct("lbctl", ["instances", "--json", "--db", url], folder: folder.url)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(instances.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["instance"] as? String } == ["lb-a", "lb-b"], "\(instances.stdout) \(instances.stderr)")
        #expect(rows.allSatisfy { $0["state"] as? String == "running" })
        #expect(waitUntil {
            let table = (try? runProduct("lbctl", ["backends", "--db", url], folder: folder.url).stdout) ?? ""
            return table.contains("down on 2 of 2") && table.contains("up on 2 of 2")
        })

        // One lbctl command drains the backend on both daemons within a second.
        let drained = ContinuousClock.now
        #expect(try runProduct("lbctl", ["drain", up.url, "--db", url], folder: folder.url).status == 0)
        #expect(waitUntil(timeout: .seconds(5)) { a.stderr.contains("backend changed") && b.stderr.contains("backend changed") })
        #expect(ContinuousClock.now - drained < .seconds(2))
        #expect(try httpRequest(port: portA).status == 503)
        #expect(try httpRequest(port: portB).status == 503)

        // A clean stop reaches PostgreSQL too: the shutdown event and the stopped mark.
        a.signal(SIGTERM)
        b.signal(SIGTERM)
        #expect(a.waitForExit() == 0)
        #expect(b.waitForExit() == 0)
        let shutdowns = try fleet.events(EventQuery(kinds: [.shutdown]))
        #expect(Set(shutdowns.compactMap(\.instance)) == ["lb-a", "lb-b"], "\(shutdowns) \(a.stderr)")
        #expect(try fleet.instances().allSatisfy { $0.stoppedAt != nil })
    }
}

/// PostgreSQL away while a daemon runs: traffic goes on, what happens meanwhile is kept in the
/// outbox, and arrives exactly once when PostgreSQL is back, even across a kill -9 of the daemon.
@Suite(.serialized) struct PostgresOutageEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func eventsOfAnOutageArriveOnceAfterItAndAKillNineLosesNothing() throws {
        let folder = try TemporaryFolder()
        let server = try PostgresTestServer()
        defer { server.stop() }
        let url = try server.makeDatabase()
        let up = try TestBackend(name: "up", group: group)
        let flaky = try TestBackend(name: "flaky", group: group)
        defer { up.stop(); flaky.stop() }
        let outbox = folder.url.appendingPathComponent("outbox.sqlite3").path
        let arguments = ["--backends", "\(up.url),\(flaky.url)", "--db", url, "--instance", "lb-o", "--outbox", outbox,
                         "--health-interval", "100ms", "--health-down-interval", "100ms"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { first.stop() }
        let port = try first.waitUntilListening()
        let fleet = try Store(location: StoreLocation(parsing: url), mode: .existing)
        #expect(waitUntil { ((try? fleet.events(EventQuery(kinds: [.startup]))) ?? []).count == 1 })

        // PostgreSQL goes away; the flaky backend dies and comes back twice meanwhile.
        let local = try Store(path: outbox, mode: .existing)
        func flakyChanges() -> Int {
            ((try? local.events(EventQuery(kinds: [.statusChange]))) ?? []).filter { $0.backendURL == flaky.url }.count
        }
        let before = flakyChanges()
        server.stop()
        for cycle in 1...2 {
            flaky.stop()
            #expect(waitUntil { flakyChanges() == before + 2 * cycle - 1 })
            try flaky.restart()
            #expect(waitUntil { flakyChanges() == before + 2 * cycle })
        }
        // Traffic never waited on the database.
        for _ in 0..<20 { #expect(try httpRequest(port: port).status == 200) }
        let recordedMeanwhile = flakyChanges()
        #expect(recordedMeanwhile == before + 4)

        // Killed during the outage: the outbox is on disk, nothing of it is lost.
        first.signal(SIGKILL)
        #expect(first.waitForExit() != nil)
        func summary(_ events: [Event]) -> [String] {
            events.filter { $0.kind != .adminChange }
                .map { "\($0.kind.rawValue) \($0.at.milliseconds) \($0.backendURL ?? "-") \($0.detail ?? "")" }
        }
        // What the killed daemon recorded and PostgreSQL never took: the outbox keeps only that.
        let unsent = summary(try local.events(EventQuery()))
        #expect(unsent.count >= 5, "the outage's status changes and its start: \(unsent)")
        try server.start()
        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        _ = try second.waitUntilListening()

        #expect(waitUntil(timeout: .seconds(20)) {
            let sent = (try? fleet.events(EventQuery(kinds: [.statusChange])))?.filter { $0.backendURL == flaky.url }.count
            return (sent ?? 0) >= recordedMeanwhile
        })
        // Exactly once: PostgreSQL holds every record of the daemon's, each once and in order,
        // those the killed daemon left in the outbox among them (the registry changes its start
        // wrote to PostgreSQL itself, its configuration's backends, are left out here); and the
        // outbox lets go of what PostgreSQL took.
        #expect(waitUntil(timeout: .seconds(20)) {
            let sent = summary((try? fleet.events(EventQuery(instance: "lb-o"))) ?? [])
            guard let start = sent.firstIndex(of: unsent[0]) else { return false }
            return Array(sent[start...].prefix(unsent.count)) == unsent && Set(sent).count == sent.count
                && ((try? local.events(EventQuery()))?.count ?? 0) <= 1
        }, "\(summary((try? fleet.events(EventQuery(instance: "lb-o"))) ?? [])) \(unsent)")
        let all = try fleet.events(EventQuery())
        // The outage itself is on record: its start, written by the daemon that was killed.
        let outage = all.filter { $0.kind == .storeError && ($0.detail ?? "").hasPrefix("PostgreSQL cannot take the outbox") }
        #expect(outage.count == 1, "\(all.filter { $0.kind == .storeError }) \(first.stderr)")
    }
}

/// A daemon that starts while PostgreSQL is away starts from its outbox's copy of the registry,
/// and follows PostgreSQL's once it is back; with no outbox it refuses with one line.
@Suite(.serialized) struct PostgresAwayAtStartEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func aDaemonStartsFromItsOutboxAndFollowsThePostgresRegistryOnceItIsBack() throws {
        let folder = try TemporaryFolder()
        let server = try PostgresTestServer()
        defer { server.stop() }
        let url = try server.makeDatabase()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let outbox = folder.url.appendingPathComponent("outbox.sqlite3").path
        let arguments = ["--db", url, "--instance", "lb-s", "--outbox", outbox]
        let first = try ServerProcess(lbserver: arguments + ["--backends", "\(a.url),\(b.url)"], folder: folder.url)
        defer { first.stop() }
        _ = try first.waitUntilListening()
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)

        server.stop()
        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        let port = try second.waitUntilListening()
        #expect(second.stderr.contains("starting from the registry the outbox kept"), "\(second.stderr)")
        #expect(Set([try httpRequest(port: port).text, try httpRequest(port: port).text]) == ["a", "b"])

        try server.start()
        #expect(try runProduct("lbctl", ["drain", b.url, "--db", url], folder: folder.url).status == 0)
        #expect(waitUntil(timeout: .seconds(10)) { second.stderr.contains("backend changed") }, "\(second.stderr)")
        for _ in 0..<4 { #expect(try httpRequest(port: port).text == "a") }
    }

    @Test func withoutAnOutboxADaemonRefusesToStartWithOneLine() throws {
        let folder = try TemporaryFolder()
        let result = try runProduct("lbserver", ["--db", "postgres://lb@/lb?host=\(folder.url.path)", "--instance", "lb-x",
                                                 "--outbox", folder.url.appendingPathComponent("none.sqlite3").path,
                                                 "--listen", "127.0.0.1:0"], folder: folder.url)
        #expect(result.status == 1, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("no outbox"), "\(result.stderr)")
    }
}
