import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Passive outlier detection against real backends: one that accepts and hangs, one that answers
/// 503, the cap on how many are ejected at once, and an ejection carried over a restart.
@Suite(.serialized) struct OutlierDetectionEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static let unavailable = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy"

    /// The status changes of `url`, oldest first.
    private func statusChanges(_ store: Store, _ url: String) throws -> [Event] {
        guard let backend = try store.backend(url: url) else { return [] }
        return try store.events(EventQuery(backendID: backend.id, kinds: [.statusChange]))
    }

    private func ejections(_ store: Store, _ url: String) throws -> [Event] {
        try statusChanges(store, url).filter { $0.data?.cause == .outlier && $0.data?.to == "down" }
    }

    @Test func aBackendThatAcceptsAndHangsIsEjectedNoCheckBringsItBackEarlyAndItReturnsAfter() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", behaviour: .hang, group: group)
        defer { a.stop(); b.stop() }
        // TCP checks every 100 ms pass for b, which accepts: without outlier detection each timed
        // out request marks it down and the next check brings it straight back.
        let server = try ServerProcess(lbserver: [
            "--backends", "\(a.url),\(b.url)", "--db", folder.database, "--response-timeout", "300ms",
            "--health-interval", "100ms", "--health-down-interval", "100ms",
            "--outlier-failures", "3", "--outlier-base-ejection", "3s",
        ], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })

        // Every request is answered by a (GET fails over); b's timeouts add up to an ejection.
        var sent = 0
        while sent < 40, (try? ejections(store, b.url).isEmpty) != false {
            #expect(try httpRequest(port: port).text == "a")
            sent += 1
            // Give the checks the time to bring b back between two requests, as they would.
            Thread.sleep(forTimeInterval: 0.15)
        }
        let ejection = try #require(try ejections(store, b.url).first)
        let data = try #require(ejection.data)
        #expect(data.threshold == 3 && data.ejections == 1 && data.from == "up")
        #expect(data.evidence?.count == 3)
        #expect(data.evidence?.allSatisfy { $0.source == .request && $0.requestID != nil } == true)
        let until = try #require(data.ejectedUntil)
        #expect(abs(until - ejection.at.milliseconds - 3_000) < 500)
        #expect(ejection.detail?.contains("ejected for 3s, ejection 1 in a row") == true)

        // While ejected, the passing checks do not bring b back and no request reaches it.
        b.setBehaviour(.serve(delay: .zero))
        let requestsAtEjection = b.requests
        let quietUntil = Date(timeIntervalSince1970: Double(until - 700) / 1000)
        var whileEjected = 0
        while Date() < quietUntil && whileEjected < 100 {
            #expect(try httpRequest(port: port).text == "a")
            whileEjected += 1
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(whileEjected > 5)
        #expect(b.requests == requestsAtEjection)
        #expect(try store.backend(url: b.url)?.health == .down)
        #expect(try statusChanges(store, b.url).last?.id == ejection.id)

        // Once the ejection is over it is back, said so by the outlier detection.
        #expect(waitUntil(timeout: .seconds(5)) { (try? store.backend(url: b.url)?.health) == .up })
        let back = try #require(try statusChanges(store, b.url).last)
        #expect(back.data?.cause == .outlier && back.data?.to == "up")
        #expect(back.at.milliseconds >= until - 50)
        #expect(waitUntil { (try? httpRequest(port: port).text) == "b" })
    }

    @Test func fiveHundredsEjectOnlyWhenCountedAndTheEvidenceSaysSo() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", behaviour: .raw(Self.unavailable), group: group)
        defer { a.stop(); b.stop() }
        let base = ["--backends", "\(a.url),\(b.url)", "--health-interval", "100ms", "--health-down-interval", "100ms",
                    "--outlier-failures", "3", "--outlier-base-ejection", "1m"]

        // Not counted (the default): b keeps its share of the requests, its 503s reach the client.
        let plain = try ServerProcess(lbserver: base + ["--db", folder.url.appendingPathComponent("plain.sqlite3").path],
                                      folder: folder.url)
        let plainPort = try plain.waitUntilListening()
        let plainStore = try Store(path: folder.url.appendingPathComponent("plain.sqlite3").path, mode: .existing)
        #expect(waitUntil { (try? plainStore.backends().allSatisfy { $0.health == .up }) == true })
        let statuses = try (0..<12).map { _ in try httpRequest(port: plainPort).status }
        #expect(statuses.filter { $0 == 503 }.count == 6)
        #expect(try ejections(plainStore, b.url).isEmpty)
        plain.stop()

        // Counted: three 503s in a row eject b, and then a answers everything.
        let counted = try ServerProcess(lbserver: base + ["--db", folder.database, "--outlier-5xx", "on"],
                                        folder: folder.url)
        defer { counted.stop() }
        let port = try counted.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        let first = try (0..<6).map { _ in try httpRequest(port: port).status }
        #expect(first.filter { $0 == 503 }.count == 3)
        #expect(waitUntil { (try? ejections(store, b.url).isEmpty) == false })
        let ejection = try #require(try ejections(store, b.url).first)
        #expect(ejection.data?.evidence?.map(\.error) == ["answered 503", "answered 503", "answered 503"])
        #expect(ejection.detail?.contains("answered 503 ×3") == true)
        #expect(try (0..<6).allSatisfy { _ in try httpRequest(port: port).text == "a" })

        // `lbctl why` names the cause, the end of the ejection and each failed try.
        let why = try runProduct("lbctl", ["why", b.url, "--db", folder.database], folder: folder.url)
        #expect(why.status == 0)
        #expect(why.stdout.contains("Cause: outlier"), "\(why.stdout)")
        #expect(why.stdout.contains("threshold 3") && why.stdout.contains("ejected until ")
                && why.stdout.contains("ejection 1 in a row"), "\(why.stdout)")
        #expect(why.stdout.components(separatedBy: "answered 503").count - 1 >= 3, "\(why.stdout)")
        #expect(why.stdout.contains("Ended by: nothing yet; the ejection ends at "), "\(why.stdout)")
    }

    @Test func atMostTheConfiguredShareIsEjectedAndTheHoldingIsRecorded() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", behaviour: .raw(Self.unavailable), group: group)
        let b = try TestBackend(name: "b", behaviour: .raw(Self.unavailable), group: group)
        defer { a.stop(); b.stop() }
        let server = try ServerProcess(lbserver: [
            "--backends", "\(a.url),\(b.url)", "--db", folder.database, "--health-interval", "1m",
            "--outlier-failures", "2", "--outlier-5xx", "on", "--outlier-base-ejection", "1m", "--admin", "127.0.0.1:0",
        ], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        // Two failing backends, 50 %: one is ejected, the other stays and keeps answering.
        for _ in 0..<12 { #expect(try httpRequest(port: port).status == 503) }
        let outlierHolds = { try store.events(EventQuery(kinds: [.guardHeld])).filter { $0.data?.cause == .outlier } }
        #expect(waitUntil { (try? outlierHolds().isEmpty) == false })
        #expect(waitUntil { ((try? ejections(store, a.url) + ejections(store, b.url))?.count ?? 0) == 1 })
        let ejected = try ejections(store, a.url) + ejections(store, b.url)
        #expect(ejected.count == 1)
        let held = try outlierHolds()
        #expect(held.allSatisfy { $0.backendID != ejected.first?.backendID && $0.data?.threshold == 1 })
        #expect(held.first?.data?.evidence?.count == 2)
        #expect(try store.backends().filter { $0.health == .up }.count == 1)

        // The status page and the metrics say which one is out and until when.
        let body = try httpRequest(port: server.adminPort, "GET", "/status").text
        #expect(body.contains("\"ejected_until\""))
        let metrics = try httpRequest(port: server.adminPort, "GET", "/metrics").text
        #expect(metrics.contains("lb_outlier_ejections_total 1"))
        #expect(metrics.split(separator: "\n").filter { $0.hasPrefix("lb_backend_ejected{") && $0.hasSuffix(" 1") }.count == 1,
                "\(metrics.split(separator: "\n").filter { $0.contains("eject") })")
    }

    @Test func anEjectionStillRunningHoldsAcrossARestart() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", behaviour: .raw(Self.unavailable), group: group)
        defer { a.stop(); b.stop() }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database,
                         "--health-interval", "100ms", "--health-down-interval", "100ms",
                         "--outlier-failures", "2", "--outlier-5xx", "on", "--outlier-base-ejection", "1m"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        let port = try first.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().allSatisfy { $0.health == .up }) == true })
        for _ in 0..<4 { _ = try httpRequest(port: port) }
        #expect(waitUntil { (try? ejections(store, b.url).isEmpty) == false })
        let ejection = try #require(try ejections(store, b.url).first)
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)

        // b answers again, and its TCP checks pass every 100 ms: it stays out all the same.
        b.setBehaviour(.serve(delay: .zero))
        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        let secondPort = try second.waitUntilListening()
        #expect(try (0..<8).allSatisfy { _ in try httpRequest(port: secondPort).text == "a" })
        let restore = try #require(try statusChanges(store, b.url).last)
        #expect(restore.data?.cause == .restore && restore.data?.to == "down")
        #expect(restore.data?.ejectedUntil == ejection.data?.ejectedUntil)
        #expect(restore.data?.ejections == 1)
        #expect(restore.detail?.contains("ejected as an outlier until") == true)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try store.backend(url: b.url)?.health == .down)
        #expect(try statusChanges(store, b.url).last?.id == restore.id)
    }
}
