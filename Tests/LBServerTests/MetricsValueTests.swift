import Foundation
import LBStore
import NIOCore
import Testing
@testable import LBServer

/// The metrics' parts as plain values: a backend's counts and their quantiles, the last minute's
/// window, the exposition's escaping, `/proc` parsing, and the page's strip drawn to time.
struct MetricsValueTests {
    @Test func backendStatsCountByClassAndPlaceLatenciesInTheirBuckets() {
        let stats = BackendStats()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        stats.countRequest()
        stats.countRequest()
        stats.countResponse(status: 200)
        stats.countResponse(status: 503)
        stats.countResponse(status: 42)
        stats.countFailure()
        stats.countRetry()
        stats.recordLatency(from: start, to: start + .microseconds(80))
        stats.recordLatency(from: start, to: start + .milliseconds(3))
        let snapshot = stats.snapshot()
        #expect(snapshot.requests == 2)
        #expect(snapshot.responses == [0, 1, 0, 0, 1])
        #expect(snapshot.failures == 1 && snapshot.retries == 1)
        #expect(snapshot.errors == 2)
        #expect(snapshot.buckets[0] == 1)
        // 3 ms falls in (2.5 ms, 5 ms].
        #expect(snapshot.buckets[BackendStats.bucketBounds.firstIndex(of: 5_000_000)!] == 1)
        #expect(snapshot.answered == 2)
        #expect(snapshot.latencySumNanoseconds == 3_080_000)
    }

    @Test func quantilesInterpolateInsideTheirBucketAsPrometheusDoes() {
        var snapshot = BackendStats.Snapshot()
        // 100 answers in (1 ms, 2.5 ms]: the median sits halfway through that bucket.
        let index = BackendStats.bucketBounds.firstIndex(of: 2_500_000)!
        snapshot.buckets[index] = 100
        #expect(abs((snapshot.latencyQuantile(0.5) ?? 0) - 0.00175) < 1e-9)
        #expect(abs((snapshot.latencyQuantile(0.99) ?? 0) - (0.001 + 0.0015 * 0.99)) < 1e-9)
        // One slow answer past every bound: p99 of 100 stays in the bucket, p100 says the last bound.
        snapshot.buckets[BackendStats.bucketBounds.count] = 1
        #expect((snapshot.latencyQuantile(1.0) ?? 0) == 30)
        #expect(BackendStats.Snapshot().latencyQuantile(0.5) == nil)
    }

    @Test func theLastMinuteIsTheDifferenceFromTheOldestSampleWithinIt() {
        let history = LoadHistory(windowSeconds: 60)
        var totals = BackendStats.Snapshot()
        #expect(history.lastMinute(current: totals, at: 0) == nil)
        let second: UInt64 = 1_000_000_000
        // 10 requests a second, 1 failure a second, for 90 seconds: only the last 60 count.
        for tick in 0...90 {
            totals.requests = tick * 10
            totals.failures = tick
            history.record(totals, at: UInt64(tick) * second)
        }
        let minute = history.lastMinute(current: totals, at: 90 * second)
        #expect(minute?.seconds == 60)
        #expect(minute?.requestsPerSecond == 10)
        #expect(minute?.errorsPerSecond == 1)
        #expect(minute?.p50 == nil)
        // Just after a start, what there is: 5 seconds' worth.
        let young = LoadHistory()
        young.record(BackendStats.Snapshot(), at: 0)
        var later = BackendStats.Snapshot()
        later.requests = 50
        #expect(young.lastMinute(current: later, at: 5 * second)?.requestsPerSecond == 10)
    }

    @Test func theExpositionEscapesLabelValuesAndWritesEveryFamilysHelpAndType() {
        var text = PrometheusText()
        text.family("lb_test_total", .counter, help: "A back\\slash\nand a line.")
        text.sample("lb_test_total", ["backend": "http://a\"b\\c\n"], 3)
        text.sample("lb_test_seconds", 0.25)
        text.family("lb_test_duration_seconds", .histogram, help: "h")
        text.histogram("lb_test_duration_seconds", [("backend", "x")], bounds: [1_000_000_000], buckets: [2, 1],
                       sumNanoseconds: 2_500_000_000)
        let lines = String(decoding: text.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines == [
            "# HELP lb_test_total A back\\\\slash\\nand a line.",
            "# TYPE lb_test_total counter",
            "lb_test_total{backend=\"http://a\\\"b\\\\c\\n\"} 3",
            "lb_test_seconds 0.25",
            "# HELP lb_test_duration_seconds h",
            "# TYPE lb_test_duration_seconds histogram",
            "lb_test_duration_seconds_bucket{backend=\"x\",le=\"1.0\"} 2",
            "lb_test_duration_seconds_bucket{backend=\"x\",le=\"+Inf\"} 3",
            "lb_test_duration_seconds_sum{backend=\"x\"} 2.5",
            "lb_test_duration_seconds_count{backend=\"x\"} 3",
        ])
    }

    @Test func procStatFieldsAreCountedFromAfterTheCommandsLastParenthesis() throws {
        // A command name may hold spaces and parentheses of its own.
        let line = "4242 (lb (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 3 0 9000 123456789 2048 "
            + "18446744073709551615"
        let fields = try #require(ProcessStats.statFields(line))
        #expect(fields.first == "S")
        #expect(fields[14 - 3] == "150" && fields[15 - 3] == "50")
        #expect(fields[22 - 3] == "9000" && fields[23 - 3] == "123456789" && fields[24 - 3] == "2048")
        #expect(ProcessStats.bootTimeSeconds("cpu  1 2 3\nbtime 1764720000\nprocesses 9\n") == 1_764_720_000)
        let current = try #require(ProcessStats.current())
        #expect(current.residentMemoryBytes > 0 && current.openFileDescriptors > 2 && current.maxFileDescriptors > 0)
        #expect(abs(current.startTimeSeconds - Date().timeIntervalSince1970) < 24 * 3600)
    }

    @Test func theStripPlacesChecksByTheirTimeNotEvenly() {
        let now = Timestamp(milliseconds: 1_000_000)
        func check(_ secondsAgo: Int64, passed: Bool) -> StatusReport.RecentCheck {
            StatusReport.RecentCheck(at: "t", passed: passed, latencyMs: 1, error: passed ? nil : "refused",
                                     atMilliseconds: now.milliseconds - secondsAgo * 1000)
        }
        // Three checks 20 s apart, then one 2 s before now: the last two are close together.
        let strip = StatusReport.strip([check(60, passed: true), check(40, passed: true), check(20, passed: false),
                                        check(2, passed: false)], now: now)
        let positions = strip.cells.components(separatedBy: "left:").dropFirst().map { $0.prefix { $0 != "%" } }
        #expect(positions == ["0.0", "33.3", "66.7", "96.7"])
        #expect(strip.span == "last 1m 0s → now")
        #expect(StatusReport.strip([], now: now).cells.isEmpty)
    }

    @Test func aDisabledBackendIsShownNotCheckedAndADownOneWithItsCause() {
        func backend(_ url: String, health: String, admin: String, down: StatusReport.Down? = nil) -> StatusReport.BackendStatus {
            StatusReport.BackendStatus(url: url, health: health, checked: admin != "disabled", adminState: admin, weight: 1,
                                       inFlight: 0, backup: false, recentChecks: [],
                                       lastMinute: .init(seconds: 60, requestsPerSecond: 12.5, errorsPerSecond: 0.5,
                                                         p50Ms: 1.25, p99Ms: 40),
                                       down: down)
        }
        let now = Timestamp(milliseconds: 1_764_720_000_000)
        let report = StatusReport(
            listen: "127.0.0.1:8080", version: "test", startedAt: "s", algorithm: "round-robin", openConnections: 0,
            database: .init(path: "lb.sqlite3", writable: true, eventsWritten: 0, eventsDropped: 0, eventsQueued: 0,
                            failedBatches: 0, walBytes: 0),
            backends: [backend("http://a", health: "not_checked", admin: "disabled"),
                       backend("http://b", health: "down", admin: "enabled",
                               down: .init(since: "2025-12-02T23:56:48.000Z", cause: "check",
                                           detail: "check failed 2 time(s), fall=2: connection refused",
                                           sinceMilliseconds: now.milliseconds - 192_000))])
        let page = report.html(generatedAt: now)
        #expect(page.contains("<span class=\"badge health h-not_checked\">not checked</span>"))
        #expect(page.contains("not checked while disabled"))
        #expect(page.contains("down since 2025-12-02 23:56:48 UTC (3m 12s ago)<br>check failed 2 time(s), fall=2: connection refused"))
        #expect(page.contains("1 not checked"))
        #expect(page.contains("<td class=\"num rps\">13</td>") && page.contains("<td class=\"num eps bad\">0.5</td>"))
        #expect(page.contains(">1.3 ms</td>") && page.contains(">40 ms</td>"))
        let json = report.json()
        #expect(json.contains("\"health\" : \"not_checked\"") && json.contains("\"checked\" : false"))
        #expect(json.contains("\"detail\" : \"check failed 2 time(s), fall=2: connection refused\""))
        #expect(!json.contains("since_milliseconds") && !json.contains("at_milliseconds"))
    }
}
