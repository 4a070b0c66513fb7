import CoreMetrics
import LBStore
import NIOCore
import Prometheus
import Synchronization

/// The daemon's metrics, kept in a registry of its own and served as Prometheus text on the admin
/// listener's `/metrics`.
///
/// The hot path only touches objects made here once: `countResponse(status:)` indexes an array of
/// five counters, `recordRequest(startedAt:)` feeds one histogram. Gauges that mirror state the
/// daemon already keeps in atomics (backend health, open connections, the writer's counters) are
/// brought up to date when `/metrics` is scraped, never per request. Safe from any thread.
final class DaemonMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// Responses by status class: index 0 is 1xx, 4 is 5xx.
    private let responsesByClass: [CoreMetrics.Counter]
    private let requestDuration: CoreMetrics.Timer
    let retries: CoreMetrics.Counter
    let failures: CoreMetrics.Counter
    private let eventsWritten: CoreMetrics.Counter
    private let eventsDropped: CoreMetrics.Counter
    private let clientConnections: CoreMetrics.Gauge
    private let databaseCommitSeconds: CoreMetrics.Gauge
    private let databaseWritable: CoreMetrics.Gauge

    /// What the scrape last saw of values kept elsewhere as totals, and the per-backend gauges.
    private struct ScrapeState {
        var written = 0
        var dropped = 0
        var backendUp: [String: CoreMetrics.Gauge] = [:]
    }
    private let scrapeState = Mutex(ScrapeState())

    static let requestDurationName = "lb_http_request_duration_seconds"

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Proxying on loopback takes well under a millisecond; the default buckets start at 5 ms.
        factory.durationHistogramBuckets[Self.requestDurationName] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.registry = registry
        self.factory = factory
        responsesByClass = (1...5).map { CoreMetrics.Counter(label: "lb_http_responses_total", dimensions: [("class", "\($0)xx")],
                                                 factory: factory) }
        requestDuration = CoreMetrics.Timer(label: Self.requestDurationName, factory: factory)
        retries = CoreMetrics.Counter(label: "lb_retries_total", factory: factory)
        failures = CoreMetrics.Counter(label: "lb_backend_failures_total", factory: factory)
        eventsWritten = CoreMetrics.Counter(label: "lb_events_written_total", factory: factory)
        eventsDropped = CoreMetrics.Counter(label: "lb_events_dropped_total", factory: factory)
        clientConnections = CoreMetrics.Gauge(label: "lb_client_connections", factory: factory)
        databaseCommitSeconds = CoreMetrics.Gauge(label: "lb_database_last_commit_seconds", factory: factory)
        databaseWritable = CoreMetrics.Gauge(label: "lb_database_writable", factory: factory)
    }

    /// Counts a response head written to a client (from a backend or the balancer's own answer).
    @inline(__always)
    func countResponse(status: Int) {
        let index = status / 100 - 1
        guard index >= 0 && index < 5 else { return }
        responsesByClass[index].increment()
    }

    /// Records the time from a request's start to its end (`NIODeadline`s; the end defaults to
    /// now, and the proxy passes the time of the read that ended the response).
    @inline(__always)
    func recordRequest(startedAt start: NIODeadline, endedAt end: NIODeadline = .now()) {
        requestDuration.recordNanoseconds(Int64(truncatingIfNeeded: end.uptimeNanoseconds &- start.uptimeNanoseconds))
    }

    /// Brings the mirrored gauges and totals up to date and returns the whole registry as
    /// Prometheus text. Called by the admin listener for each scrape.
    func scrape(backends: [BackendRuntime], openConnections: Int, writer: WriterStatistics) -> [UInt8] {
        scrapeState.withLock { state in
            if writer.written > state.written { eventsWritten.increment(by: writer.written - state.written) }
            if writer.dropped > state.dropped { eventsDropped.increment(by: writer.dropped - state.dropped) }
            state.written = max(state.written, writer.written)
            state.dropped = max(state.dropped, writer.dropped)
            var seen = Set<String>()
            for backend in backends {
                let url = backend.url.text
                seen.insert(url)
                let gauge: CoreMetrics.Gauge
                if let existing = state.backendUp[url] {
                    gauge = existing
                } else {
                    gauge = CoreMetrics.Gauge(label: "lb_backend_up", dimensions: [("backend", url)], factory: factory)
                    state.backendUp[url] = gauge
                }
                // 1 while up; 0 while down or not yet checked.
                gauge.record(backend.currentHealth == .up ? 1 : 0)
            }
            // A removed backend's series goes away rather than freezing at its last value.
            for (url, gauge) in state.backendUp where !seen.contains(url) {
                gauge.destroy()
                state.backendUp[url] = nil
            }
        }
        clientConnections.record(openConnections)
        databaseCommitSeconds.record(Double(writer.lastCommitMicroseconds) / 1_000_000)
        databaseWritable.record(writer.isFailing ? 0 : 1)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        registry.emit(into: &buffer)
        return buffer
    }
}
