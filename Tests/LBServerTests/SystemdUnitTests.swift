import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import LBServer

/// `contrib/lbserver.service`: the settings an operator relies on, and its command line run by
/// the real binary with the unit's paths moved into a temporary folder.
@Suite(.serialized) struct SystemdUnitTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static var unitFile: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("contrib/lbserver.service")
    }

    /// Every `Key=value` of the unit, in order (a key may repeat).
    static func settings(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), !line.hasPrefix("["), let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
    }

    @Test func theUnitIsHardenedAndStopsLaterThanTheGracePeriod() throws {
        let text = try String(contentsOf: Self.unitFile, encoding: .utf8)
        let settings = Self.settings(text)
        func value(_ key: String) -> String? { settings.last { $0.key == key }?.value }
        #expect(value("Type") == "notify")
        // The successor of a restart by handover says READY itself.
        #expect(value("NotifyAccess") == "all")
        #expect(value("WatchdogSec") != nil)
        #expect(value("Restart") == "on-failure")
        #expect(value("KillSignal") == "SIGTERM")
        // A reload that can fail: the command exits with the daemon's verdict.
        let reload = try #require(value("ExecReload")).split(separator: " ").map(String.init)
        #expect(Array(reload.prefix(2)) == ["/usr/bin/lbserver", "reload"])
        // Ports below 1024 need the capability, and a user namespace of its own would void it.
        #expect(value("AmbientCapabilities") == "CAP_NET_BIND_SERVICE")
        #expect(value("CapabilityBoundingSet") == "CAP_NET_BIND_SERVICE")
        #expect(value("PrivateUsers") == nil || value("PrivateUsers") == "no")
        #expect(value("NoNewPrivileges") == "yes")
        #expect(value("ProtectSystem") == "strict")
        #expect(value("StateDirectory") == "lb")
        #expect(value("User") == "lb")
        let exec = try #require(value("ExecStart")).split(separator: " ").map(String.init)
        #expect(exec.first == "/usr/bin/lbserver")
        // The database is where StateDirectory makes a writable folder under ProtectSystem=strict.
        let db = try #require(exec.firstIndex(of: "--db").map { exec[$0 + 1] })
        #expect(db.hasPrefix("/var/lib/lb/"))
        #expect(exec.contains("--config"))
        let stop = try #require(value("TimeoutStopSec").flatMap { Int($0.replacingOccurrences(of: "s", with: "")) })
        let grace = Int(ServerConfiguration().gracePeriod.nanoseconds / 1_000_000_000)
        #expect(stop > grace, "TimeoutStopSec \(stop)s must exceed the grace period \(grace)s")

        // systemd's own checker, where the machine has it, on the unit pointed at the built binary.
        let analyze = "/usr/bin/systemd-analyze"
        if FileManager.default.isExecutableFile(atPath: analyze) {
            let folder = try TemporaryFolder()
            let copy = folder.url.appendingPathComponent("lbserver.service")
            try text.replacingOccurrences(of: "/usr/bin/lbserver",
                                          with: ServerProcess.productsFolder.appendingPathComponent("lbserver").path)
                .write(to: copy, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: analyze)
            process.arguments = ["verify", copy.path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            process.waitUntilExit()
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0 && said.isEmpty, "\(said)")
        }
    }

    @Test func theUnitsCommandLineStartsServesAndStopsCleanlyOnSIGTERM() throws {
        let text = try String(contentsOf: Self.unitFile, encoding: .utf8)
        let settings = Self.settings(text)
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "listen: 127.0.0.1:0\nbackends:\n  - \(a.url)\n".write(to: config, atomically: true, encoding: .utf8)
        func localized(_ line: String) -> [String] {
            line.replacingOccurrences(of: "/etc/lb/lb.yaml", with: config.path)
                .replacingOccurrences(of: "/var/lib/lb", with: folder.url.path)
                .split(separator: " ").dropFirst().map(String.init)
        }
        let check = try #require(settings.last { $0.key == "ExecStartPre" }?.value)
        #expect(try runProduct("lbserver", localized(check), folder: folder.url).status == 0)
        let exec = try #require(settings.last { $0.key == "ExecStart" }?.value)
        let server = try ServerProcess(lbserver: localized(exec) + ["--port", "0"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try httpRequest(port: port).text == "a")
        #expect(FileManager.default.fileExists(atPath: folder.url.appendingPathComponent("lb.sqlite3").path))
        // ExecReload, as systemctl reload runs it: applied, then refused with a bad file.
        let reload = try #require(settings.last { $0.key == "ExecReload" }?.value)
        let reloaded = try runProduct("lbserver", localized(reload), folder: folder.url)
        #expect(reloaded.status == 0, "\(reloaded.stderr)")
        try "listen: 127.0.0.1:0\nbackends: [\n".write(to: config, atomically: true, encoding: .utf8)
        #expect(try runProduct("lbserver", localized(reload), folder: folder.url).status == 65)
        #expect(try httpRequest(port: port).text == "a")
        server.signal(SIGTERM)
        #expect(server.waitForExit(timeout: .seconds(30)) == 0)
    }

    @Test func theSampleConfigurationIsValid() throws {
        let sample = Self.unitFile.deletingLastPathComponent().appendingPathComponent("lb.yaml").path
        let folder = try TemporaryFolder()
        let checked = try runProduct("lbserver", ["--check-config", sample], folder: folder.url)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("listen 0.0.0.0:80, 2 backend(s)"), "\(checked.stdout)")
    }
}
