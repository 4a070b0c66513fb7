import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing
@testable import LBServer

/// The daemon's log lines (`--log-format`) and its access log (`--access-log`), on the real binary.
@Suite(.serialized) struct LoggingEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func keyValueLinesCarryTimeLevelQuotedMessageAndMetadata() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(waitUntil { server.stderr.contains("msg=\"backend up\"") })
        let lines = server.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(line.hasPrefix("ts=20") && line.contains("Z level="), "\(line)")
        }
        let listening = try #require(lines.first { $0.contains("msg=\"listening\"") }.map(Self.keyValues))
        #expect(listening["level"] == "info")
        #expect(listening["address"] == "127.0.0.1:\(port)")
        #expect(listening["backends"] == "1")
        let up = try #require(lines.first { $0.contains("msg=\"backend up\"") }.map(Self.keyValues))
        #expect(up["backend"] == a.url)
        #expect(up["cause"] == "check passed 1 time(s), rise=1")
    }

    @Test func jsonFormatWritesOneObjectPerLine() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database, "--log-format", "json"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(waitUntil { server.stderr.contains("\"msg\":\"backend up\"") })
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        var messages: [String] = []
        for line in server.stderr.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                                      "not a JSON object: \(line)")
            #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
            #expect(object["level"] is String)
            let message = try #require(object["msg"] as? String)
            messages.append(message)
            if message == "listening" { #expect(object["address"] as? String == "127.0.0.1:\(port)") }
        }
        #expect(messages.contains("listening") && messages.contains("backend up") && messages.contains("stopped"))
    }

    @Test func theAccessLogHasOneLinePerAnsweredRequestInAFile() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let path = folder.url.appendingPathComponent("access.log").path
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database, "--access-log", path],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let ok = try httpRequest(port: port, "GET", "/hello?x=1&y=2")
        let posted = try httpRequest(port: port, "POST", "/form", body: Array("field=value".utf8))
        let store = try Store(path: folder.database, mode: .existing)
        try store.setAdminState(.drained, url: a.url, actor: "operator")
        #expect(waitUntil { (try? httpRequest(port: port, "GET", "/late").status) == 503 })
        var lines: [[String: String]] = []
        #expect(waitUntil {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").map(Self.keyValues)
            return lines.contains { $0["status"] == "503" }
        })
        let first = try #require(lines.first)
        #expect(first["method"] == "GET" && first["path"] == "/hello?x=1&y=2" && first["status"] == "200")
        #expect(first["client"] == "127.0.0.1")
        #expect(first["backend"] == a.url)
        #expect(first["bytes"] == String(ok.body.count))
        #expect(first["request_id"] == ok.header("x-request-id"))
        #expect(first["ts"]?.hasSuffix("Z") == true)
        #expect(Double(first["duration_ms"] ?? "") != nil)
        let second = try #require(lines.dropFirst().first)
        #expect(second["method"] == "POST" && second["path"] == "/form")
        #expect(second["request_id"] == posted.header("x-request-id"))
        let rejected = try #require(lines.last)
        #expect(rejected["path"] == "/late" && rejected["backend"] == "-")
        #expect(Int(rejected["bytes"] ?? "") ?? 0 > 0)
        // Every answered request has its line, and nothing else does.
        #expect(lines.allSatisfy { $0["request_id"] != nil && $0["status"] != nil })
    }

    @Test func theConfigFileSetsTheFormatAndAnAccessLogOnStandardOutput() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml")
        try "log_format: json\naccess_log: \"-\"\nbackends:\n  - \(a.url)\n".write(to: config, atomically: true,
                                                                                  encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let response = try httpRequest(port: port, "GET", "/json")
        var line: [String: Any] = [:]
        #expect(waitUntil {
            guard let text = server.stdout.split(separator: "\n").first(where: { $0.contains("\"/json\"") }),
                  let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                return false
            }
            line = object
            return true
        })
        #expect(line["status"] as? Int == 200)
        #expect(line["bytes"] as? Int == response.body.count)
        #expect(line["request_id"] as? String == response.header("x-request-id"))
        #expect(server.stderr.hasPrefix("{\"ts\":"))

        // A flag overrides the file.
        let second = try ServerProcess(lbserver: ["--config", config.path, "--db", folder.database + "-2",
                                                  "--log-format", "keyvalue"], folder: folder.url)
        defer { second.stop() }
        try second.waitUntilListening()
        #expect(waitUntil { second.stderr.contains("msg=\"listening\"") })
    }

    @Test func badLogSettingsNameTheFlagOrTheKeyAndLine() throws {
        let folder = try TemporaryFolder()
        let flag = try runProduct("lbserver", ["--log-format", "xml", "--db", folder.database], folder: folder.url)
        #expect(flag.status == 64)
        #expect(flag.stderr.contains("--log-format must be keyvalue or json, not 'xml'"), "\(flag.stderr)")
        let unwritable = try runProduct("lbserver", ["--access-log", folder.url.appendingPathComponent("no/such/dir").path,
                                                     "--db", folder.database, "--listen", "127.0.0.1:0"],
                                        folder: folder.url)
        #expect(unwritable.status == 1)
        #expect(unwritable.stderr.contains("cannot open access log"), "\(unwritable.stderr)")

        var configuration = ServerConfiguration()
        #expect {
            try ConfigFile(path: "lb.yaml").apply("threads: 2\nlog_format: xml\n", to: &configuration)
        } throws: { error in
            "\(error)".contains("lb.yaml:2: log_format must be keyvalue or json")
        }
        #expect {
            try ConfigFile(path: "lb.yaml").apply("access_log: [a, b]\n", to: &configuration)
        } throws: { error in
            "\(error)".contains("lb.yaml:1: access_log must be a single value")
        }
    }

    /// The `key=value` pairs of one line; a quoted value may hold spaces and escaped quotes.
    static func keyValues(_ line: Substring) -> [String: String] {
        var result: [String: String] = [:]
        var index = line.startIndex
        while index < line.endIndex {
            while index < line.endIndex && line[index] == " " { index = line.index(after: index) }
            guard let equals = line[index...].firstIndex(of: "=") else { break }
            let key = String(line[index..<equals])
            index = line.index(after: equals)
            var value = ""
            if index < line.endIndex && line[index] == "\"" {
                index = line.index(after: index)
                while index < line.endIndex && line[index] != "\"" {
                    if line[index] == "\\" { index = line.index(after: index) }
                    if index < line.endIndex { value.append(line[index]) }
                    index = line.index(after: index)
                }
                if index < line.endIndex { index = line.index(after: index) }
            } else {
                while index < line.endIndex && line[index] != " " {
                    value.append(line[index])
                    index = line.index(after: index)
                }
            }
            result[key] = value
        }
        return result
    }
}
