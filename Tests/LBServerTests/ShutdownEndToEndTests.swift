import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// Start and stop of the real daemon through its service group: signals, the grace period as the
/// group's bound, and start-up failures while binding.
@Suite(.serialized) struct ShutdownEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func sigtermPastTheGracePeriodStopsAtItsEndAndStillRecordsACleanStop() throws {
        let folder = try TemporaryFolder()
        let silent = try TestBackend(name: "silent", behaviour: .hang, group: group)
        defer { silent.stop() }
        let server = try ServerProcess(lbserver: ["--backends", silent.url, "--db", folder.database,
                                                  "--grace-period", "500ms", "--response-timeout", "1m"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        try connection.send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil { silent.requests == 1 })
        let signalled = ContinuousClock.now
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(ContinuousClock.now - signalled < .seconds(10), "the drain was not cut at the grace period")
        #expect(server.stderr.contains("grace period over; closing the connections still open"), "\(server.stderr)")
        // The connection left open was closed, not answered.
        #expect(throws: (any Error).self) { try connection.readResponse() }
        let store = try Store(path: folder.database, mode: .existing)
        #expect(try store.events(EventQuery(kinds: [.shutdown])).count == 1)
        let state = try store.balancerState()
        #expect(try #require(state.lastCleanStop) >= #require(state.lastStart))
    }

    @Test func anAdminPortInUseExitsOneNamingTheAdminAddressAndRecordsNoStart() throws {
        let folder = try TemporaryFolder()
        let holder = try TestBackend(name: "holder", group: group)
        defer { holder.stop() }
        let result = try runProduct("lbserver", ["--db", folder.database, "--listen", "127.0.0.1:0",
                                                 "--admin", "127.0.0.1:\(holder.port)"], folder: folder.url)
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("lbserver: cannot listen on 127.0.0.1:\(holder.port) for --admin: address already in use\n"),
                "\(result.stderr)")
        #expect(!result.stdout.contains("listening on"))
        let store = try Store(path: folder.database, mode: .existing)
        #expect(try store.events(EventQuery(kinds: [.startup, .shutdown])).isEmpty)
        #expect(try store.balancerState().lastStart == nil)
    }
}
