import Foundation
import LBStore
import NIOCore
import Testing
@testable import LBServer

/// The metrics' parts as plain values: a backend's counts and their quantiles, the exposition's
/// escaping, `/proc` parsing.
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
}
