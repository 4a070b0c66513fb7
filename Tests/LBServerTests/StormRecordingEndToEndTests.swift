import Foundation
import LBStore
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Storms do not flood the record: thousands of 503s into an empty pool, or of refused client
/// requests, leave a few rows whose summed `count` is exactly what clients were answered.
@Suite(.serialized) struct StormRecordingEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func fourThousand503sIntoAnEmptyPoolAreAFewRowsWhoseCountsSumToExactlyThe503sAnswered() throws {
        let folder = try TemporaryFolder()
        // A backend URL nothing listens on: every check and every try is refused.
        let gone = try TestBackend(name: "gone", group: group)
        gone.stop()
        let server = try ServerProcess(lbserver: ["--backends", gone.url, "--db", folder.database,
                                                  "--health-interval", "100ms", "--fall", "1"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.backends().first?.health) == .down })
        let before = try store.lastEventID()

        let connections = 4
        let requestsPerConnection = 1_000
        let answered503 = Atomic<Int>(0)
        let other = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: connections) { _ in
            guard let connection = try? HTTPTestConnection(port: port) else {
                other.add(requestsPerConnection, ordering: .relaxed)
                return
            }
            for _ in 0..<requestsPerConnection {
                if (try? connection.request().status) == 503 {
                    answered503.add(1, ordering: .relaxed)
                } else {
                    other.add(1, ordering: .relaxed)
                }
            }
        }
        let total = connections * requestsPerConnection
        #expect(answered503.load(ordering: .relaxed) == total)
        #expect(other.load(ordering: .relaxed) == 0)

        // The flush timer writes what was merged within about two seconds, with no stop needed.
        func recordedRejections() throws -> (rows: [Event], sum: Int) {
            let rows = try store.events(EventQuery(kinds: [.rejected], afterID: before))
            return (rows, rows.reduce(0) { $0 + $1.count })
        }
        #expect(waitUntil(timeout: .seconds(10)) { (try? recordedRejections().sum) == answered503.load(ordering: .relaxed) })

        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        let (rows, sum) = try recordedRejections()
        #expect(sum == answered503.load(ordering: .relaxed))
        let added = try store.events(EventQuery(afterID: before)).count
        #expect(added * 25 < total, "\(added) rows for \(total) requests")
        #expect(rows.allSatisfy { $0.detail == "503 no backend available" && $0.backendID == nil })
        #expect(rows.allSatisfy { $0.data?.clients == ["127.0.0.1"] && ($0.data?.requestIDs?.count ?? 0) <= 5 })
        #expect(rows.allSatisfy { $0.requestID != nil && $0.requestID == $0.data?.requestIDs?.first })
        #expect(rows.contains { $0.count > 100 })
        #expect(try store.countEvents(kind: .rejected, in: .all, detailPrefix: "503") == total)
    }

    @Test func malformedLongAndSlowRequestsAreRecordedAsRefusedWithExactCountsAndTheClientSampled() throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "a", group: group)
        defer { backend.stop() }
        let server = try ServerProcess(lbserver: ["--backends", backend.url, "--db", folder.database,
                                                  "--max-request-line", "100", "--header-timeout", "300ms"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let cases: [(bytes: String, status: Int, times: Int)] = [
            ("GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, 30),
            ("GET /" + String(repeating: "a", count: 300) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, 20),
        ]
        for testCase in cases {
            for _ in 0..<testCase.times {
                let connection = try HTTPTestConnection(port: port)
                try connection.send(testCase.bytes)
                #expect(try connection.readResponse().status == testCase.status)
            }
        }
        // Three clients that never finish a head, all at once.
        let silent = try (0..<3).map { _ in try HTTPTestConnection(port: port) }
        for connection in silent { #expect(try connection.readResponse().status == 408) }
        #expect(backend.requests == 0)

        let store = try Store(path: folder.database, mode: .existing)
        func refused(_ status: Int) -> Int? {
            try? store.countEvents(kind: .refused, in: .all, detailPrefix: "\(status) ")
        }
        #expect(waitUntil { refused(400) == 30 && refused(414) == 20 && refused(408) == 3 })
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(refused(400) == 30)
        #expect(refused(414) == 20)
        #expect(refused(408) == 3)
        let rows = try store.events(EventQuery(kinds: [.refused]))
        #expect(rows.count < 20, "\(rows.count) rows for 53 refusals")
        #expect(rows.contains { $0.count > 1 })
        #expect(rows.allSatisfy { $0.data?.clients == ["127.0.0.1"] && $0.backendID == nil })
        #expect(rows.first { $0.detail?.hasPrefix("408 ") == true }?.detail == "408 the request head did not arrive in time")
        // Refusals are the client's fault, not the balancer's answers.
        #expect(try store.eventCounts(in: .all)[.rejected] == nil)
    }
}
