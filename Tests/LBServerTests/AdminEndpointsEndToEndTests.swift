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
                                                  "--admin", "127.0.0.1:0", "--max-request-line", "64"],
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
        #expect(metrics["lb_http_responses_total{class=\"2xx\"}"] == Double(twoHundreds))
        #expect(metrics["lb_http_responses_total{class=\"4xx\"}"] == 1)
        #expect(metrics["lb_http_responses_total{class=\"5xx\"}"] == 1)
        #expect(metrics["lb_http_responses_total{class=\"3xx\"}"] == 0)
        #expect(metrics["lb_http_request_duration_seconds_count"] == Double(statuses.count))
        #expect((metrics["lb_http_request_duration_seconds_sum"] ?? 0) > 0)
        #expect(metrics["lb_retries_total"] == 2)
        #expect(metrics["lb_backend_failures_total"] == Double(try store.events(EventQuery(kinds: [.failure])).count))
        #expect(metrics["lb_backend_failures_total"] == 2)
        #expect(metrics["lb_backend_up{backend=\"\(a.url)\"}"] == 1)
        #expect(metrics["lb_events_dropped_total"] == 0)
        #expect(metrics["lb_database_writable"] == 1)
        #expect(metrics["lb_database_last_commit_seconds"] != nil)

        // A backend that traffic finds dead shows as 0.
        a.stop()
        try store.setAdminState(.enabled, url: a.url, actor: "operator")
        #expect(waitUntil(timeout: .seconds(15)) {
            _ = try? httpRequest(port: port)
            guard let text = try? httpRequest(port: server.adminPort, "GET", "/metrics").text else { return false }
            return Self.samples(text)["lb_backend_up{backend=\"\(a.url)\"}"] == 0
        })
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
