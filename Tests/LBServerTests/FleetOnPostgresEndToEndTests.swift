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
        #expect(Set(shutdowns.compactMap(\.instance)) == ["lb-a", "lb-b"], "\(shutdowns)")
        #expect(try fleet.instances().allSatisfy { $0.stoppedAt != nil })
    }
}
