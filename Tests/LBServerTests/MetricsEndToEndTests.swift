import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing
@testable import LBServer

/// `/metrics` of the real daemon after traffic with failures: Prometheus's own checker accepts it,
/// and the per-backend families say what happened to each backend.
@Suite(.serialized) struct MetricsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test(.enabled(if: ExternalTool.promtool != nil,
                   "promtool is not installed (Debian's `prometheus` package; scripts/test installs it)"))
    func liveMetricsPassPromtoolAndCountEachBackendsTraffic() throws {
        let folder = try TemporaryFolder()
        // a serves; b resets its first two connections (two failures, two retries, then served);
        // e answers 500; d is dead (its checks find it down); c is disabled (not checked).
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", behaviour: .resetFirst(2), group: group)
        let c = try TestBackend(name: "c", group: group)
        let d = try TestBackend(name: "d", group: group)
        let e = try TestBackend(name: "e", behaviour: .raw("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops"),
                                group: group)
        defer { a.stop(); b.stop(); c.stop(); d.stop(); e.stop() }
        d.stop()
        let urls = [a, b, c, d, e].map(\.url)
        let server = try ServerProcess(lbserver: ["--backends", urls.joined(separator: ","), "--db", folder.database,
                                                  "--admin", "127.0.0.1:0", "--health-interval", "200ms",
                                                  "--health-down-interval", "200ms"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try runProduct("lbctl", ["disable", c.url, "--db", folder.database], folder: folder.url).status == 0)
        func scrape() throws -> (text: String, samples: [String: Double]) {
            let text = try httpRequest(port: server.adminPort, "GET", "/metrics").text
            return (text, AdminEndpointsEndToEndTests.samples(text))
        }
        func label(_ name: String, _ url: String, _ extra: String = "") -> String {
            "\(name){backend=\"\(url)\"\(extra)}"
        }
        // Traffic only once d is known down and c is out, so every request goes to a, b or e.
        #expect(waitUntil {
            guard let samples = try? scrape().samples else { return false }
            return samples[label("lb_backend_up", d.url)] == 0
                && samples[label("lb_backend_admin_state", c.url, ",state=\"disabled\"")] == 1
        })
        var statuses: [Int] = []
        for _ in 0..<12 { statuses.append(try httpRequest(port: port).status) }
        let served = statuses.filter { $0 == 200 }.count
        let failed = statuses.filter { $0 == 500 }.count
        #expect(served + failed == 12 && failed > 0, "\(statuses)")

        let (text, metrics) = try scrape()
        // Prometheus's own check: syntax, HELP and TYPE of every family, naming conventions.
        let file = folder.url.appendingPathComponent("metrics.txt")
        try Data(text.utf8).write(to: file)
        let promtool = try runTool("/bin/sh", ["-c", "exec \"$0\" check metrics < \"$1\"", ExternalTool.promtool!, file.path],
                                   folder: folder.url)
        #expect(promtool.status == 0 && promtool.stdout.isEmpty && promtool.stderr.isEmpty,
                "promtool: \(promtool.stdout)\(promtool.stderr)")
        // Every family carries its HELP and TYPE, written once.
        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        let helps = text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] }
        #expect(families == helps && Set(families).count == families.count, "\(families)")
        let expected = [
            "lb_build_info", "lb_http_responses_total", "lb_http_request_duration_seconds", "lb_client_connections",
            "lb_outlier_ejections_total", "lb_backend_requests_total", "lb_backend_responses_total",
            "lb_backend_failures_total", "lb_backend_retries_total", "lb_backend_response_duration_seconds",
            "lb_backend_in_flight", "lb_backend_up", "lb_backend_health", "lb_backend_admin_state", "lb_backend_weight",
            "lb_backend_ejected", "lb_events_written_total", "lb_events_dropped_total", "lb_events_queued",
            "lb_event_batches_failed_total", "lb_database_writable", "lb_database_last_commit_seconds",
            "lb_database_wal_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds",
        ]
        #expect(Set(families.map(String.init)) == Set(expected), "\(families)")

        func value(_ name: String, _ backend: TestBackend, _ extra: String = "") -> Double? {
            metrics[label(name, backend.url, extra)]
        }
        func responses(_ backend: TestBackend, _ code: String) -> Double? {
            value("lb_backend_responses_total", backend, ",code=\"\(code)\"")
        }
        // b failed twice on its first request and was retried twice; the event log agrees.
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { (try? store.events(EventQuery(kinds: [.failure])).count) == 2 })
        #expect(value("lb_backend_failures_total", b) == 2)
        #expect(value("lb_backend_retries_total", b) == 2)
        for backend in [a, c, d, e] {
            #expect(value("lb_backend_failures_total", backend) == 0 && value("lb_backend_retries_total", backend) == 0)
        }
        // Every try is a request; each try was answered or failed.
        let twoHundreds = (responses(a, "2xx") ?? 0) + (responses(b, "2xx") ?? 0)
        #expect(twoHundreds == Double(served))
        #expect(responses(e, "5xx") == Double(failed) && responses(e, "2xx") == 0)
        #expect(value("lb_backend_requests_total", a) == responses(a, "2xx") && (responses(a, "2xx") ?? 0) > 0)
        #expect(value("lb_backend_requests_total", b) == (responses(b, "2xx") ?? 0) + 2)
        #expect(value("lb_backend_requests_total", e) == Double(failed))
        #expect(value("lb_backend_requests_total", c) == 0 && value("lb_backend_requests_total", d) == 0)
        #expect(Double(a.requests) == value("lb_backend_requests_total", a))
        // One latency per answer; the histogram's buckets are cumulative and end at the count.
        for backend in [a, b, e] {
            let answered = (responses(backend, "2xx") ?? 0) + (responses(backend, "5xx") ?? 0)
            #expect(value("lb_backend_response_duration_seconds_count", backend) == answered)
            #expect(value("lb_backend_response_duration_seconds_bucket", backend, ",le=\"+Inf\"") == answered)
            #expect((value("lb_backend_response_duration_seconds_sum", backend) ?? 0) > 0)
        }
        // Health as the daemon knows it: d down, c not checked (no lb_backend_up), the rest up.
        #expect(value("lb_backend_up", a) == 1 && value("lb_backend_up", e) == 1 && value("lb_backend_up", d) == 0)
        #expect(value("lb_backend_up", c) == nil)
        #expect(value("lb_backend_health", c, ",state=\"not_checked\"") == 1)
        #expect(value("lb_backend_health", c, ",state=\"up\"") == 0)
        #expect(value("lb_backend_health", d, ",state=\"down\"") == 1)
        #expect(value("lb_backend_admin_state", c, ",state=\"disabled\"") == 1)
        #expect(value("lb_backend_admin_state", a, ",state=\"enabled\"") == 1)
        #expect(value("lb_backend_weight", a) == 1 && value("lb_backend_in_flight", a) == 0)
        // The whole: build, event log, process.
        #expect(metrics["lb_build_info{version=\"\(InstanceName.version)\"}"] == 1)
        #expect(metrics["lb_http_responses_total{code=\"2xx\"}"] == Double(served))
        #expect(metrics["lb_http_responses_total{code=\"5xx\"}"] == Double(failed))
        #expect(metrics["lb_events_dropped_total"] == 0 && metrics["lb_database_writable"] == 1)
        #expect(metrics["lb_events_queued"] != nil && metrics["lb_event_batches_failed_total"] == 0)
        #expect((metrics["process_open_fds"] ?? 0) > 3 && (metrics["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        #expect((metrics["process_cpu_seconds_total"] ?? 0) > 0)
        #expect(abs((metrics["process_start_time_seconds"] ?? 0) - Date().timeIntervalSince1970) < 120)
    }
}
