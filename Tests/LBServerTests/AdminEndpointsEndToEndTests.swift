import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// The admin listener's endpoints on the real daemon: `/metrics`, and the status page.
@Suite(.serialized) struct AdminEndpointsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func metricsCountResponsesByClassRetriesFailuresAndBackendHealth() throws {
        let folder = try TemporaryFolder()
        // Two resets, then service: the first request fails twice and is retried twice.
        let a = try TestBackend(name: "a", behaviour: .resetFirst(2), group: group)
        defer { a.stop() }
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database,
                                                  "--admin", "127.0.0.1:0", "--max-request-line", "64",
                                                  "--health-interval", "1s"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        var statuses: [Int] = []
        for _ in 0..<3 { statuses.append(try httpRequest(port: port).status) }
        #expect(statuses == [200, 200, 200])
        statuses.append(try httpRequest(port: port, "GET", "/" + String(repeating: "x", count: 100)).status)
        #expect(statuses.last == 414)
        let store = try Store(path: folder.database, mode: .existing)
        try store.setAdminState(.drained, url: a.url, actor: "operator")
        #expect(waitUntil {
            guard let status = try? httpRequest(port: port).status else { return false }
            statuses.append(status)
            return status == 503
        })
        let twoHundreds = statuses.filter { $0 == 200 }.count
        // Held open while scraping, so the connection gauge has something to count.
        let idle = try HTTPTestConnection(port: port)
        _ = idle
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.retry])).count) == 2 })

        var metrics: [String: Double] = [:]
        #expect(waitUntil {
            guard let response = try? httpRequest(port: server.adminPort, "GET", "/metrics") else { return false }
            metrics = Self.samples(response.text)
            return (metrics["lb_client_connections"] ?? 0) >= 1 && (metrics["lb_events_written_total"] ?? 0) > 0
        })
        #expect(metrics["lb_http_responses_total{code=\"2xx\"}"] == Double(twoHundreds))
        #expect(metrics["lb_http_responses_total{code=\"4xx\"}"] == 1)
        #expect(metrics["lb_http_responses_total{code=\"5xx\"}"] == 1)
        #expect(metrics["lb_http_responses_total{code=\"3xx\"}"] == 0)
        #expect(metrics["lb_http_request_duration_seconds_count"] == Double(statuses.count))
        #expect((metrics["lb_http_request_duration_seconds_sum"] ?? 0) > 0)
        #expect(metrics["lb_backend_retries_total{backend=\"\(a.url)\"}"] == 2)
        #expect(metrics["lb_backend_failures_total{backend=\"\(a.url)\"}"]
                    == Double(try store.events(EventQuery(kinds: [.failure])).count))
        #expect(metrics["lb_backend_failures_total{backend=\"\(a.url)\"}"] == 2)
        #expect(metrics["lb_backend_up{backend=\"\(a.url)\"}"] == 1)
        #expect(metrics["lb_events_dropped_total"] == 0)
        #expect(metrics["lb_database_writable"] == 1)
        #expect(metrics["lb_database_last_commit_seconds"] != nil)

        // A backend found dead shows as 0 (found by its checks: traffic alone never marks down the
        // only backend).
        a.stop()
        try store.setAdminState(.enabled, url: a.url, actor: "operator")
        #expect(waitUntil(timeout: .seconds(15)) {
            _ = try? httpRequest(port: port)
            guard let text = try? httpRequest(port: server.adminPort, "GET", "/metrics").text else { return false }
            return Self.samples(text)["lb_backend_up{backend=\"\(a.url)\"}"] == 0
        })
    }

    /// Each event loop keeps its own counts; a scrape adds them up, and scraping again adds
    /// only what is new.
    @Test func requestMetricsAddUpOverEventLoopsAndScrapes() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", behaviour: .serve(delay: .milliseconds(30)), group: group)
        defer { a.stop() }
        let server = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database, "--threads", "2",
                                                  "--admin", "127.0.0.1:0"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        // Accepted connections go to the two loops in turn.
        let connections = try (0..<8).map { _ in try HTTPTestConnection(port: port) }
        for connection in connections {
            for _ in 0..<2 { #expect(try connection.request().status == 200) }
        }

        func scrape() throws -> [String: Double] {
            Self.samples(try httpRequest(port: server.adminPort, "GET", "/metrics").text)
        }
        let name = "lb_http_request_duration_seconds"
        var metrics = try scrape()
        #expect(metrics["lb_http_responses_total{code=\"2xx\"}"] == 16)
        #expect(metrics["\(name)_count"] == 16)
        #expect(metrics["\(name)_bucket{le=\"+Inf\"}"] == 16)
        // Every request waited 30 ms at the backend: none is below 25 ms, and the sum shows it.
        #expect(metrics["\(name)_bucket{le=\"0.025\"}"] == 0)
        #expect((metrics["\(name)_sum"] ?? 0) >= 16 * 0.03)
        let bounds = ["0.00025", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                      "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "+Inf"]
        let cumulative = bounds.map { metrics["\(name)_bucket{le=\"\($0)\"}"] }
        #expect(cumulative.allSatisfy { $0 != nil }, "\(cumulative)")
        #expect(zip(cumulative, cumulative.dropFirst()).allSatisfy { ($0 ?? 0) <= ($1 ?? 0) }, "\(cumulative)")

        for _ in 0..<4 { #expect(try connections[0].request().status == 200) }
        metrics = try scrape()
        #expect(metrics["lb_http_responses_total{code=\"2xx\"}"] == 20)
        #expect(metrics["\(name)_count"] == 20)
    }

    /// lbctl and the daemon agree on every backend the daemon checks; a disabled one, which it
    /// does not check, it reports as not checked rather than the health it had.
    @Test func theStatusPageListsEveryBackendAndAgreesWithLbctl() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        let d = try TestBackend(name: "d", group: group)
        defer { a.stop(); b.stop(); c.stop(); d.stop() }
        b.stop()
        let urls = [a, b, c, d].map(\.url)
        let server = try ServerProcess(lbserver: ["--backends", urls.joined(separator: ","), "--db", folder.database,
                                                  "--admin", "127.0.0.1:0", "--health-interval", "200ms",
                                                  "--health-down-interval", "200ms"], folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        #expect(try runProduct("lbctl", ["drain", c.url, "--db", folder.database], folder: folder.url).status == 0)
        #expect(try runProduct("lbctl", ["disable", d.url, "--db", folder.database], folder: folder.url).status == 0)

        struct Row: Decodable, Equatable { var url: String; var health: String; var adminState: String }
        struct Status: Decodable {
            struct Backend: Decodable {
                var url: String; var health: String; var adminState: String
                var recentChecks: [Check]
            }
            struct Check: Decodable { var passed: Bool }
            var backends: [Backend]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let expected = [Row(url: a.url, health: "up", adminState: "enabled"),
                        Row(url: b.url, health: "down", adminState: "enabled"),
                        Row(url: c.url, health: "up", adminState: "drained"),
                        Row(url: d.url, health: "not_checked", adminState: "disabled")]
        var fromStatus: [Row] = []
        var fromLbctl: [Row] = []
        var status: Status?
        // The daemon flips its own state first and commits the change within a batch, so the two
        // views may differ for a moment; they must settle on the same answer.
        #expect(waitUntil {
            guard let body = try? httpRequest(port: server.adminPort, "GET", "/status").body,
                  let decoded = try? decoder.decode(Status.self, from: Data(body)),
                  let listed = try? runProduct("lbctl", ["backends", "--json", "--db", folder.database],
                                               folder: folder.url),
                  let rows = try? decoder.decode([Row].self, from: Data(listed.stdout.utf8)) else { return false }
            status = decoded
            fromStatus = decoded.backends.map { Row(url: $0.url, health: $0.health, adminState: $0.adminState) }
            fromLbctl = rows
            // Both say "not_checked" for the disabled backend, which nobody checks.
            return fromStatus.sorted { $0.url < $1.url } == expected.sorted { $0.url < $1.url }
                && fromLbctl.sorted { $0.url < $1.url } == fromStatus.sorted { $0.url < $1.url }
        }, "status \(fromStatus) lbctl \(fromLbctl)")
        let byURL = Dictionary(uniqueKeysWithValues: (status?.backends ?? []).map { ($0.url, $0) })
        #expect(byURL[a.url]?.recentChecks.contains { $0.passed } == true)
        #expect(byURL[b.url]?.recentChecks.contains { !$0.passed } == true)
        #expect(byURL[b.url]?.recentChecks.allSatisfy { !$0.passed } == true)

        let page = try httpRequest(port: server.adminPort, "GET", "/")
        #expect(page.status == 200)
        #expect(page.header("content-type")?.hasPrefix("text/html") == true)
        for url in urls { #expect(page.text.contains(url)) }
        for word in ["drained", "disabled", "down", "connection refused", "not checked"] { #expect(page.text.contains(word)) }
        // Self-contained: nothing is fetched from anywhere else.
        #expect(!page.text.contains("src=\"http") && !page.text.contains("href=\"http"))
    }

    /// A backend found down says since when and why in `/status`; restarted on a fresh state, the
    /// daemon restores it down and keeps the time it went down, not the restart's.
    @Test func aDownBackendSaysSinceWhenAndWhyAcrossARestart() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        b.stop()
        struct Status: Decodable {
            struct Backend: Decodable { var url: String; var health: String; var down: Down? }
            struct Down: Decodable, Equatable { var since: String; var cause: String; var detail: String }
            var backends: [Backend]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        func down(of server: ServerProcess) -> Status.Down? {
            guard let body = try? httpRequest(port: server.adminPort, "GET", "/status").body,
                  let status = try? decoder.decode(Status.self, from: Data(body)) else { return nil }
            return status.backends.first { $0.url == b.url && $0.health == "down" }?.down
        }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database, "--admin", "127.0.0.1:0",
                         "--health-interval", "200ms", "--health-down-interval", "200ms"]
        let first = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { first.stop() }
        try first.waitUntilListening()
        var found: Status.Down?
        #expect(waitUntil { found = down(of: first); return found != nil })
        #expect(found?.cause == "check")
        #expect(found?.detail.hasPrefix("check failed") == true && found?.detail.contains("connection refused") == true,
                "\(String(describing: found))")
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)

        let second = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { second.stop() }
        try second.waitUntilListening()
        var restored: Status.Down?
        #expect(waitUntil { restored = down(of: second); return restored != nil })
        #expect(restored?.cause == "restore" && restored?.since == found?.since, "\(String(describing: restored))")
        #expect(restored?.detail.contains("by check") == true, "\(String(describing: restored))")
    }

    /// The samples of a Prometheus text exposition, keyed by name with labels as written.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
