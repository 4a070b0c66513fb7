import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Each daemon keeps a row in `instances` and names what it records: `lbctl instances` and
/// `lbctl events --instance` read them.
@Suite(.serialized) struct InstanceEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func aDaemonRegistersItselfNamesItsEventsAndSaysWhenItStopped() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let dead = try TestBackend(name: "dead", group: group)
        defer { a.stop(); dead.stop() }
        dead.stop()
        let server = try ServerProcess(lbserver: ["--backends", "\(a.url),\(dead.url)", "--db", folder.database,
                                                  "--instance", "lb-a"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backend(url: dead.url)?.health) == .down })

        let running = try runProduct("lbctl", ["instances", "--json", "--db", folder.database], folder: folder.url)
        #expect(running.status == 0, "\(running.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(running.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["instance"] as? String == "lb-a")
        #expect(rows.first?["state"] as? String == "running")
        #expect(rows.first?["pid"] as? Int == Int(server.process.processIdentifier))
        #expect(rows.first?["listen"] as? String == "127.0.0.1:\(port)", "the bound address, not the configured port 0")

        let named = try runProduct("lbctl", ["events", "--json", "--instance", "lb-a", "--kind", "status_change",
                                             "--db", folder.database], folder: folder.url)
        #expect(named.status == 0, "\(named.stderr)")
        let changes = try #require(try JSONSerialization.jsonObject(with: Data(named.stdout.utf8)) as? [[String: Any]])
        #expect(changes.contains { $0["backend"] as? String == dead.url && $0["instance"] as? String == "lb-a" },
                "\(named.stdout)")
        let other = try runProduct("lbctl", ["events", "--json", "--instance", "lb-b", "--db", folder.database],
                                   folder: folder.url)
        #expect(other.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(other.stdout)")

        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        let stopped = try #require(try store.instances().first)
        #expect(stopped.stoppedAt != nil)
        #expect(stopped.state(at: .now()) == .stopped)
        let table = try runProduct("lbctl", ["instances", "--db", folder.database], folder: folder.url)
        #expect(table.stdout.contains("lb-a") && table.stdout.contains("stopped"), "\(table.stdout)")
    }

    @Test func aKilledDaemonLeavesNoCleanStopAndIsLostOnceItsHeartbeatIsStale() throws {
        let folder = try TemporaryFolder()
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--instance", "lb-k"], folder: folder.url)
        defer { server.stop() }
        _ = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.instances().first?.identity.name) == "lb-k" })
        server.signal(SIGKILL)
        #expect(server.waitForExit() != nil)
        let row = try #require(try store.instances().first)
        #expect(row.stoppedAt == nil)
        #expect(row.state(at: row.heartbeatAt) == .running)
        let later = row.heartbeatAt.adding(milliseconds: Int64(Instance.staleAfter.components.seconds) * 1_000 + 1)
        #expect(row.state(at: later) == .lost)
    }

    @Test(arguments: ["", "a b", "lb/a", String(repeating: "x", count: 65)])
    func anInstanceNameThatCannotNameADaemonIsRefused(name: String) throws {
        let folder = try TemporaryFolder()
        let result = try runProduct("lbserver", ["--db", folder.database, "--instance", name, "--check-config"],
                                    folder: folder.url)
        #expect(result.status == 64, "\(name): \(result.stderr)")
        #expect(result.stderr.contains("--instance"), "\(result.stderr)")
    }
}

/// Two daemons on one database, each with its own view of the backends: `lbctl backends` shows
/// where they agree and where they do not.
@Suite(.serialized) struct FleetViewEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func lbctlBackendsShowsEachRunningInstancesViewAndWhereTheyDisagree() throws {
        let folder = try TemporaryFolder()
        let up = try TestBackend(name: "up", group: group)
        let flaky = try TestBackend(name: "flaky", group: group)
        defer { up.stop(); flaky.stop() }
        flaky.stop()
        let list = "\(up.url),\(flaky.url)"
        // lb-a checks every 200 ms; lb-b checks once at start and then only every hour.
        let a = try ServerProcess(lbserver: ["--backends", list, "--db", folder.database, "--instance", "lb-a",
                                             "--health-interval", "200ms", "--health-down-interval", "200ms"],
                                  folder: folder.url)
        defer { a.stop() }
        _ = try a.waitUntilListening()
        let b = try ServerProcess(lbserver: ["--backends", list, "--db", folder.database, "--instance", "lb-b",
                                             "--health-interval", "1h", "--health-down-interval", "1h"],
                                  folder: folder.url)
        defer { b.stop() }
        _ = try b.waitUntilListening()

        func views() throws -> [String: [String: String]] {
            let listed = try runProduct("lbctl", ["backends", "--json", "--db", folder.database], folder: folder.url)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
            var result: [String: [String: String]] = [:]
            for row in rows {
                let url = try #require(row["url"] as? String)
                for view in (row["instances"] as? [[String: Any]]) ?? [] {
                    result[url, default: [:]][view["instance"] as? String ?? "?"] = view["health"] as? String
                }
            }
            return result
        }
        #expect(waitUntil { (try? views()[flaky.url]) == ["lb-a": "down", "lb-b": "down"] }, "\(String(describing: try? views()))")
        #expect(waitUntil { (try? views()[up.url]) == ["lb-a": "up", "lb-b": "up"] })
        var table = try runProduct("lbctl", ["backends", "--db", folder.database], folder: folder.url).stdout
        #expect(table.contains("down on 2 of 2") && table.contains("up on 2 of 2"), "\(table)")

        // The backend comes back: lb-a sees it within a check or two, lb-b not for an hour.
        try flaky.restart()
        #expect(waitUntil { (try? views()[flaky.url]) == ["lb-a": "up", "lb-b": "down"] }, "\(String(describing: try? views()))")
        table = try runProduct("lbctl", ["backends", "--db", folder.database], folder: folder.url).stdout
        #expect(table.contains("down on 1 of 2"), "\(table)")

        // A stopped daemon's view no longer counts.
        b.signal(SIGTERM)
        #expect(b.waitForExit() == 0)
        #expect(waitUntil { (try? views()[flaky.url]) == ["lb-a": "up"] })
    }
}
