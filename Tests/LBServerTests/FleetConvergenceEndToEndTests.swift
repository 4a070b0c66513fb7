import Foundation
import LBStore
import NIOCore
import NIOPosix
import PostgresTestServer
import Testing

/// Three daemons on one PostgreSQL database follow every kind of `lbctl` change within a second:
/// the registry's notifications wake each one, the poll is only the fallback (set here to 5 s,
/// so that a change seen sooner was pushed).
///
/// `LB_FLEET_CHANGES=N` runs N changes instead of two rounds of the seven kinds, and the test
/// prints the percentiles (`scripts/bench-fleet` runs it with 200).
@Suite(.serialized) struct FleetConvergenceEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A change, and how an instance's `/status` shows it was applied.
    struct Change {
        var lbctl: [String]
        var applied: ([String: [String: Any]]) -> Bool
    }

    @Test func threeInstancesFollowEveryKindOfChangeWithinASecond() throws {
        let folder = try TemporaryFolder()
        let url = try PostgresTestServer.shared.get().makeDatabase()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        let daemons = try (1...3).map { number in
            try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)", "--db", url, "--instance", "lb-\(number)",
                                         "--outbox", folder.url.appendingPathComponent("outbox-\(number).sqlite3").path,
                                         "--admin", "127.0.0.1:0", "--registry-poll-interval", "5s"],
                              folder: folder.url)
        }
        defer { daemons.forEach { $0.stop() } }
        for daemon in daemons { _ = try daemon.waitUntilListening() }

        /// Each daemon's backends by URL, as its /status has them.
        func views() -> [[String: [String: Any]]] {
            daemons.map { daemon in
                guard let response = try? httpRequest(port: daemon.adminPort, "GET", "/status"),
                      let object = try? JSONSerialization.jsonObject(with: Data(response.text.utf8)) as? [String: Any],
                      let backends = object["backends"] as? [[String: Any]] else { return [:] }
                return Dictionary(backends.map { ($0["url"] as? String ?? "", $0) }, uniquingKeysWith: { $1 })
            }
        }
        func state(_ url: String, _ value: String) -> ([String: [String: Any]]) -> Bool {
            { $0[url]?["admin_state"] as? String == value }
        }
        let kinds: [(Int) -> Change] = [
            { _ in Change(lbctl: ["drain", a.url], applied: state(a.url, "drained")) },
            { _ in Change(lbctl: ["enable", a.url], applied: state(a.url, "enabled")) },
            { _ in Change(lbctl: ["disable", b.url], applied: state(b.url, "disabled")) },
            { _ in Change(lbctl: ["enable", b.url], applied: state(b.url, "enabled")) },
            { round in Change(lbctl: ["weight", a.url, "\(2 + round % 5)"],
                              applied: { $0[a.url]?["weight"] as? Int == 2 + round % 5 }) },
            { _ in Change(lbctl: ["add", c.url], applied: { $0[c.url] != nil }) },
            { _ in Change(lbctl: ["remove", c.url], applied: { $0[c.url] == nil }) },
        ]
        let count = ProcessInfo.processInfo.environment["LB_FLEET_CHANGES"].flatMap(Int.init) ?? 2 * kinds.count
        // From just before lbctl starts (an upper bound: it includes lbctl's own start) and from
        // its exit (a lower bound: the commit came before it) to the last instance applying it.
        var sinceStart: [Duration] = []
        var sinceExit: [Duration] = []
        let clock = ContinuousClock()
        for index in 0..<count {
            let change = kinds[index % kinds.count](index / kinds.count)
            let start = clock.now
            let result = try runProduct("lbctl", change.lbctl + ["--db", url], folder: folder.url)
            let exit = clock.now
            #expect(result.status == 0, "\(change.lbctl): \(result.stderr)")
            let converged = waitUntil(timeout: .seconds(5)) { views().allSatisfy(change.applied) }
            let end = clock.now
            #expect(converged, "\(change.lbctl) not applied by every instance: \(daemons.map(\.stderr))")
            // Within a second of the commit, which came before lbctl's exit; lbctl's own start
            // (slow under a sanitizer) is no part of it.
            #expect(end - exit < .seconds(1), "\(change.lbctl) took \(end - exit) after lbctl's exit to reach every instance")
            sinceStart.append(end - start)
            sinceExit.append(end - exit)
        }
        func percentile(_ values: [Duration], _ p: Double) -> String {
            let sorted = values.sorted()
            let value = sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
            return String(format: "%.1f ms", Double(value.components.attoseconds) / 1e15 + Double(value.components.seconds) * 1e3)
        }
        print("fleet convergence, 3 instances, \(count) changes: "
              + "from lbctl's start p50 \(percentile(sinceStart, 0.5)) p99 \(percentile(sinceStart, 0.99)) max \(percentile(sinceStart, 1)); "
              + "from its exit p50 \(percentile(sinceExit, 0.5)) p99 \(percentile(sinceExit, 0.99)) max \(percentile(sinceExit, 1))")
        // Pushed, not polled: no instance waited for its 5-second poll.
        #expect(daemons.allSatisfy { !$0.stderr.contains("registry notifications interrupted") })
    }
}
