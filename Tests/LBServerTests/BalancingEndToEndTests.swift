import Foundation
import NIOCore
import NIOPosix
import Testing

/// The balancing algorithms in the real daemon: real `lbserver`, real `lbctl`, real backends.
@Suite(.serialized) struct BalancingAlgorithmEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// How many of `count` requests on `connection` each backend served, by name.
    private func served(_ count: Int, on connection: HTTPTestConnection, headers: [(String, String)] = [])
        throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for _ in 0..<count { counts[try connection.request(headers: headers).text, default: 0] += 1 }
        return counts
    }

    @Test func aWeightChangeThroughLbctlShiftsRealTrafficWithinASecondOrTwo() throws {
        let folder = try TemporaryFolder()
        let backends = try ["a", "b", "c"].map { try TestBackend(name: $0, group: group) }
        defer { backends.forEach { $0.stop() } }
        let (a, c) = (backends[0], backends[2])
        let server = try ServerProcess(lbserver: ["--backends", backends.map(\.url).joined(separator: ","),
                                                  "--db", folder.database, "--algorithm", "weighted"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        // Equal weights: smooth weighted round robin is plain round robin.
        #expect(try served(60, on: connection) == ["a": 20, "b": 20, "c": 20])

        let changed = try runProduct("lbctl", ["weight", a.url, "4", "--db", folder.database], folder: folder.url)
        #expect(changed.status == 0, "\(changed.stderr)")
        let changedAt = ContinuousClock.now
        // Any 60 picks in a row of weights 4:1:1 are ten whole cycles: 40, 10, 10.
        var last: [String: Int] = [:]
        #expect(waitUntil(timeout: .seconds(2)) {
            last = (try? served(60, on: connection)) ?? [:]
            return last == ["a": 40, "b": 10, "c": 10]
        }, "shares after lbctl weight a 4: \(last)")
        print("lbctl weight a 4: traffic 40:10:10 after \(ContinuousClock.now - changedAt)")

        let zero = try runProduct("lbctl", ["weight", c.url, "0", "--db", folder.database], folder: folder.url)
        #expect(zero.status == 0, "\(zero.stderr)")
        #expect(waitUntil(timeout: .seconds(2)) {
            last = (try? served(50, on: connection)) ?? [:]
            return last == ["a": 40, "b": 10]
        }, "shares after lbctl weight c 0: \(last)")
    }

    @Test func hashKeepsEachUserOnOneBackendAndSpreadsUsers() throws {
        let folder = try TemporaryFolder()
        let backends = try ["a", "b", "c"].map { try TestBackend(name: $0, group: group) }
        defer { backends.forEach { $0.stop() } }
        let server = try ServerProcess(lbserver: ["--backends", backends.map(\.url).joined(separator: ","),
                                                  "--db", folder.database, "--algorithm", "hash",
                                                  "--hash-key", "header:X-User"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        var homes: [String: String] = [:]
        for user in (0..<60).map({ "user-\($0)" }) {
            let counts = try served(3, on: connection, headers: [("X-User", user)])
            #expect(counts.count == 1, "\(user) was served by \(counts)")
            homes[user] = counts.keys.first
        }
        #expect(Set(homes.values) == ["a", "b", "c"], "\(homes)")
        // A fresh connection (another client port) does not move a user.
        #expect(try httpRequest(port: port, headers: [("X-User", "user-7")]).text == homes["user-7"])
    }

    @Test func anUnknownAlgorithmOrHashKeyIsAUsageError() throws {
        let folder = try TemporaryFolder()
        let algorithm = try runProduct("lbserver", ["--algorithm", "fastest", "--db", folder.database],
                                       folder: folder.url)
        #expect(algorithm.status == 64)
        #expect(algorithm.stderr.contains("--algorithm must be one of round-robin, weighted, least-connections, p2c, hash"),
                "\(algorithm.stderr)")
        let key = try runProduct("lbserver", ["--algorithm", "hash", "--hash-key", "ip", "--db", folder.database],
                                 folder: folder.url)
        #expect(key.status == 64)
        #expect(key.stderr.contains("--hash-key must be client-address, header:NAME or cookie:NAME"), "\(key.stderr)")
        let slow = try runProduct("lbserver", ["--slow-start", "later", "--db", folder.database], folder: folder.url)
        #expect(slow.status == 64)
        #expect(slow.stderr.contains("--slow-start wants a duration"), "\(slow.stderr)")
    }
}
