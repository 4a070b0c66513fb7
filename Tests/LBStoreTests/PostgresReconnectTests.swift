import Foundation
import PostgresTestServer
import Testing
@testable import LBStore

/// A store on PostgreSQL outlives a restart of the server: the call made while it is down fails
/// with `.unreachable` at once, and the next one after it is back reconnects.
@Suite struct PostgresReconnectTests {
    @Test func aStoreFailsFastWhileTheServerIsDownAndReconnectsAfter() throws {
        let server = try PostgresTestServer()
        defer { server.stop() }
        let store = try Store(location: StoreLocation(parsing: server.makeDatabase()))
        try store.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        server.stop()
        let started = ContinuousClock.now
        let error = #expect(throws: StoreError.self) { try store.backends() }
        #expect(error?.kind == .unreachable, "\(String(describing: error))")
        let again = #expect(throws: StoreError.self) { try store.addBackend(url: "http://127.0.0.1:9002", actor: "t") }
        #expect(again?.kind == .unreachable, "\(String(describing: again))")
        #expect(ContinuousClock.now - started < .seconds(5))
        try server.start()
        #expect(try store.backends().map(\.url) == ["http://127.0.0.1:9001"])
    }
}
