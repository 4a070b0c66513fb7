import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// A scripted incident with the real lbserver and lbctl: traffic flows, a backend dies and comes
/// back, another is drained, the daemon restarts with a changed --backends. Afterwards the record
/// answers what the registry looked like at every instant between the steps, and why each
/// backend was out.
@Suite(.serialized) struct IncidentEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    struct PastRow: Decodable {
        var url: String
        var health: String
        var adminState: String
        var origin: String
        var weight: Int
    }

    struct Why: Decodable {
        struct Evidence: Decodable {
            var source: String
            var requestId: String?
            var attempt: Int?
            var error: String?
        }
        struct Change: Decodable {
            var state: String
            var cause: String?
        }
        var state: String
        var cause: String?
        var actor: String?
        var command: String?
        var until: String?
        var evidence: [Evidence]
        var endedBy: Change?
    }

    private func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    private func lbctl(_ arguments: [String], folder: TemporaryFolder) throws -> String {
        let result = try runProduct("lbctl", arguments + ["--db", folder.database], folder: folder.url)
        #expect(result.status == 0, "lbctl \(arguments): \(result.stderr)")
        return result.stdout
    }

    private func registry(at instant: Timestamp, folder: TemporaryFolder) throws -> [String: PastRow] {
        let text = try lbctl(["backends", "--at", instant.rfc3339, "--json"], folder: folder)
        let rows = try decoder().decode([PastRow].self, from: Data(text.utf8))
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.url, $0) })
    }

    /// Waits until the daemon has committed a little past `instant`, then returns it.
    private func settle() -> Timestamp {
        let instant = Timestamp.now()
        Thread.sleep(forTimeInterval: 0.05)
        return instant
    }

    @Test func theRecordAnswersWhatWasTrueBetweenEveryStepAndWhy() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        let store = try Store(path: folder.database, mode: .create)
        let common = ["--db", folder.database, "--health-interval", "150ms", "--health-down-interval", "100ms"]

        // Step 0: three backends, traffic flowing.
        let first = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url),\(c.url)"] + common, folder: folder.url)
        defer { first.stop() }
        let port = try first.waitUntilListening()
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<6 { #expect(try connection.request().status == 200) }
        let allUp = settle()

        // Step 1: b dies under traffic; every request is still answered.
        b.stop()
        for _ in 0..<6 { #expect(try connection.request().status == 200) }
        #expect(waitUntil { (try? store.backend(url: b.url)?.health) == .down })
        let bDown = settle()

        // Step 2: b comes back; the checks bring it in.
        try b.restart()
        #expect(waitUntil { (try? store.backend(url: b.url)?.health) == .up })
        let bBack = settle()

        // Step 3: an operator drains c.
        _ = try lbctl(["drain", c.url], folder: folder)
        #expect(waitUntil { first.stderr.contains("backend changed") })
        let cDrained = settle()

        // Step 4: restart with c no longer declared.
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        let second = try ServerProcess(lbserver: ["--backends", "\(a.url),\(b.url)"] + common, folder: folder.url)
        defer { second.stop() }
        let newPort = try second.waitUntilListening()
        #expect(try Set((0..<4).map { _ in try httpRequest(port: newPort).text }) == ["a", "b"])
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let afterRestart = settle()

        // The registry at each instant, exactly.
        var at = try registry(at: allUp, folder: folder)
        #expect(at.keys.sorted() == [a.url, b.url, c.url].sorted())
        #expect(at.values.allSatisfy { $0.health == "up" && $0.adminState == "enabled" && $0.origin == "config" })
        at = try registry(at: bDown, folder: folder)
        #expect(at[b.url]?.health == "down")
        #expect(at[a.url]?.health == "up" && at[c.url]?.adminState == "enabled")
        at = try registry(at: bBack, folder: folder)
        #expect(at[b.url]?.health == "up")
        at = try registry(at: cDrained, folder: folder)
        #expect(at[c.url]?.adminState == "drained" && at[c.url]?.health == "up")
        at = try registry(at: afterRestart, folder: folder)
        #expect(at.keys.sorted() == [a.url, b.url].sorted())
        #expect(at.values.allSatisfy { $0.health == "up" && $0.adminState == "enabled" })

        // Why b was down: traffic or checks, with their evidence, ended by a passing check.
        let whyB = try decoder().decode(Why.self, from: Data(try lbctl(["why", b.url, "--at", bDown.rfc3339, "--json"],
                                                                        folder: folder).utf8))
        #expect(whyB.state == "down")
        #expect(whyB.cause == "traffic" || whyB.cause == "check", "\(whyB)")
        #expect(!whyB.evidence.isEmpty)
        if whyB.cause == "traffic" {
            #expect(whyB.evidence.allSatisfy { $0.source == "request" && $0.requestId != nil && $0.attempt != nil })
        } else {
            #expect(whyB.evidence.allSatisfy { $0.source == "check" && $0.error == "connection refused" })
        }
        #expect(whyB.endedBy?.state == "up" && whyB.endedBy?.cause == "check")
        #expect(whyB.until != nil)

        // Why c was out: an operator, with the command, ended by its removal from the configuration.
        let whyC = try decoder().decode(Why.self, from: Data(try lbctl(["why", c.url, "--at", cDrained.rfc3339, "--json"],
                                                                        folder: folder).utf8))
        #expect(whyC.state == "drained" && whyC.cause == "admin")
        #expect(whyC.command?.contains("drain") == true, "\(whyC)")
        #expect(whyC.actor?.isEmpty == false)
        #expect(whyC.endedBy?.state == "removed")

        // a was never out.
        let whyA = try decoder().decode(Why.self, from: Data(try lbctl(["why", a.url, "--json"], folder: folder).utf8))
        #expect(whyA.state == "up" && whyA.cause == nil)
    }
}
