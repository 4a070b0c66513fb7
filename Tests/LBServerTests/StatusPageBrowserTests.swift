import Foundation
import NIOCore
import NIOPosix
import Testing

/// The status page as a real browser renders it: headless Chromium loads `/` from the real daemon
/// and the DOM it built is checked row by row.
@Suite(.serialized) struct StatusPageBrowserTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test(.enabled(if: ExternalTool.chromium != nil,
                   "chromium is not installed (Debian's `chromium` package; scripts/test installs it)"))
    func aBrowserShowsEveryBackendADisabledOneAsDisabledAndADownOneWithItsCause() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        defer { a.stop(); b.stop(); c.stop() }
        b.stop()
        let server = try ServerProcess(lbserver: ["--backends", [a, b, c].map(\.url).joined(separator: ","),
                                                  "--db", folder.database, "--admin", "127.0.0.1:0",
                                                  "--health-interval", "200ms", "--health-down-interval", "200ms"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try runProduct("lbctl", ["disable", c.url, "--db", folder.database], folder: folder.url).status == 0)
        #expect(waitUntil {
            guard let status = try? httpRequest(port: server.adminPort, "GET", "/status").text else { return false }
            return status.contains("\"health\" : \"not_checked\"") && status.contains("\"health\" : \"down\"")
        })
        for _ in 0..<5 { #expect(try httpRequest(port: port).status == 200) }

        let dom = try Self.renderedDOM(of: "http://127.0.0.1:\(server.adminPort)/", folder: folder)
        let rows = Self.rows(in: dom)
        #expect(Set(rows.keys) == Set([a.url, b.url, c.url]), "\(dom.prefix(2_000))")
        let up = rows[a.url] ?? "", down = rows[b.url] ?? "", disabled = rows[c.url] ?? ""
        #expect(up.contains(">up</span>") && up.contains(">enabled</span>"))
        // The last minute's requests reached a: a rate and latencies, not dashes.
        #expect(up.contains("class=\"num p50\">") && !up.contains("class=\"num p50\">–"), "\(up)")
        #expect(disabled.contains(">not checked</span>") && disabled.contains(">disabled</span>"), "\(disabled)")
        #expect(!disabled.contains(">up</span>"))
        #expect(down.contains(">down</span>"))
        #expect(down.contains("down since ") && down.contains("ago)<br>check failed") && down.contains("connection refused"),
                "\(down)")
        #expect(down.contains("(cause: check)"))
        // The strip: one cell per check, placed by time.
        #expect(down.contains("class=\"f\" style=\"left:"))
    }

    /// The DOM Chromium built from `url`, its scripts run.
    static func renderedDOM(of url: String, folder: TemporaryFolder) throws -> String {
        let profile = folder.url.appendingPathComponent("chromium-profile").path
        let result = try runTool(ExternalTool.chromium!, ["--headless", "--disable-gpu", "--no-sandbox",
                                                          "--user-data-dir=\(profile)", "--dump-dom", url],
                                 folder: folder.url, timeout: .seconds(90))
        #expect(result.status == 0, "chromium: \(result.stderr.suffix(2_000))")
        return result.stdout
    }

    /// Each backend row's markup, by the backend's URL (`data-backend`).
    static func rows(in dom: String) -> [String: String] {
        var rows: [String: String] = [:]
        for part in dom.components(separatedBy: "<tr").dropFirst() {
            guard let start = part.range(of: "data-backend=\""),
                  let end = part[start.upperBound...].firstIndex(of: "\"") else { continue }
            let url = String(part[start.upperBound..<end])
            rows[url] = part.components(separatedBy: "</tr>").first ?? part
        }
        return rows
    }
}
