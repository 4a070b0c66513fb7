import Foundation
import LBStore
@testable import LBServer
import Testing

/// One version, said the same way by both programs and by the running daemon.
@Suite(.serialized) struct VersionEndToEndTests {
    @Test func bothProgramsPrintTheOneVersionWithDashDashVersion() throws {
        let folder = try TemporaryFolder()
        #expect(!InstanceName.version.isEmpty)
        for (program, arguments) in [("lbserver", ["--version"]), ("lbserver", ["serve", "--version"]),
                                     ("lbctl", ["--version"]), ("lbctl", ["events", "--version"])] {
            let result = try runProduct(program, arguments, folder: folder.url)
            #expect(result.status == 0, "\(program) \(arguments): \(result.stderr)")
            #expect(result.stdout == InstanceName.version + "\n", "\(program) \(arguments): \(result.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.database), "--version opens no database")
    }

    @Test func theStartupEventAndStatusNameTheVersion() throws {
        let folder = try TemporaryFolder()
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        let body = try httpRequest(port: server.adminPort, "GET", "/status").body
        let status = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(status["version"] as? String == InstanceName.version)

        let store = try Store(path: folder.database, mode: .existing)
        var startup: Event?
        #expect(waitUntil {
            startup = try? store.events(EventQuery(range: .all, kinds: [.startup])).first
            return startup != nil
        })
        let detail = try #require(startup?.detail)
        #expect(detail.contains(" version=\(InstanceName.version) "), "\(detail)")
    }
}
