import CoreMetrics
import LBStore
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import Synchronization

/// The daemon's metrics, kept in a registry of its own and served as Prometheus text on the admin
/// listener's `/metrics`.
///
/// The hot path touches only its event loop's `RequestStats` (responses by class and the
/// request duration histogram, found once per client connection); each scrape adds the loops'
/// totals up. Gauges that mirror state the daemon already keeps in atomics (backend health, open
/// connections, the writer's counters) are also brought up to date when `/metrics` is scraped,
/// never per request. Safe from any thread.
final class DaemonMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// Responses by status class: index 0 is 1xx, 4 is 5xx.
    private let responsesByClass: [CoreMetrics.Counter]
    let retries: CoreMetrics.Counter
    let failures: CoreMetrics.Counter
    /// Backends ejected by outlier detection.
    let ejections: CoreMetrics.Counter
    private let eventsWritten: CoreMetrics.Counter
    private let eventsDropped: CoreMetrics.Counter
    private let clientConnections: CoreMetrics.Gauge
    private let databaseCommitSeconds: CoreMetrics.Gauge
    private let databaseWritable: CoreMetrics.Gauge
    private let databaseWALBytes: CoreMetrics.Gauge

    /// What the scrape last saw of values kept elsewhere as totals, and the per-backend gauges.
    private struct ScrapeState {
        var written = 0
        var dropped = 0
        var backendUp: [String: CoreMetrics.Gauge] = [:]
        var backendEjected: [String: CoreMetrics.Gauge] = [:]
        /// Responses by class already added to `responsesByClass`.
        var responses = [Int](repeating: 0, count: 5)
    }
    private let scrapeState = Mutex(ScrapeState())
    /// One per event loop that has served a client connection. Event loops ask for theirs at the
    /// same moment, so this lock is contended: a pthread mutex (NIO's lock), which ThreadSanitizer
    /// follows. Behind a `Synchronization.Mutex` it reported the array as raced in 3 of 6 runs of
    /// the two-loop metrics test, most likely because that mutex waits in the standard library,
    /// which is not instrumented; with this lock, 8 of 8 runs were clean.
    private let loopStats = NIOLockedValueBox<[RequestStats]>([])

    static let requestDurationName = "lb_http_request_duration_seconds"

    init() {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        self.registry = registry
        self.factory = factory
        responsesByClass = (1...5).map { CoreMetrics.Counter(label: "lb_http_responses_total", dimensions: [("class", "\($0)xx")],
                                                 factory: factory) }
        retries = CoreMetrics.Counter(label: "lb_retries_total", factory: factory)
        failures = CoreMetrics.Counter(label: "lb_backend_failures_total", factory: factory)
        ejections = CoreMetrics.Counter(label: "lb_outlier_ejections_total", factory: factory)
        eventsWritten = CoreMetrics.Counter(label: "lb_events_written_total", factory: factory)
        eventsDropped = CoreMetrics.Counter(label: "lb_events_dropped_total", factory: factory)
        clientConnections = CoreMetrics.Gauge(label: "lb_client_connections", factory: factory)
        databaseCommitSeconds = CoreMetrics.Gauge(label: "lb_database_last_commit_seconds", factory: factory)
        databaseWritable = CoreMetrics.Gauge(label: "lb_database_writable", factory: factory)
        databaseWALBytes = CoreMetrics.Gauge(label: "lb_database_wal_bytes", factory: factory)
    }

    /// The per-request metrics of `eventLoop`, made on first use; a client connection asks once
    /// and then writes them on that loop only.
    func requestStats(for eventLoop: EventLoop) -> RequestStats {
        loopStats.withLockedValue { all in
            if let existing = all.first(where: { $0.eventLoop === eventLoop }) { return existing }
            let made = RequestStats(eventLoop: eventLoop)
            all.append(made)
            return made
        }
    }

    /// Every loop's per-request metrics added up.
    func requestTotals() -> RequestStats.Snapshot {
        loopStats.withLockedValue { all in all.reduce(RequestStats.Snapshot()) { $0 + $1.snapshot() } }
    }

    /// The gauge `label{backend="url"}` kept in `gauges`, made on first use.
    private func gauge(_ label: String, backend url: String, in gauges: inout [String: CoreMetrics.Gauge]) -> CoreMetrics.Gauge {
        if let existing = gauges[url] { return existing }
        let made = CoreMetrics.Gauge(label: label, dimensions: [("backend", url)], factory: factory)
        gauges[url] = made
        return made
    }

    /// Brings the mirrored gauges and totals up to date and returns the whole registry as
    /// Prometheus text. Called by the admin listener for each scrape.
    func scrape(backends: [BackendRuntime], openConnections: Int, writer: WriterStatistics, walBytes: Int = 0) -> [UInt8] {
        let totals = requestTotals()
        scrapeState.withLock { state in
            for (index, total) in totals.responses.enumerated() where total > state.responses[index] {
                responsesByClass[index].increment(by: total - state.responses[index])
                state.responses[index] = total
            }
            if writer.written > state.written { eventsWritten.increment(by: writer.written - state.written) }
            if writer.dropped > state.dropped { eventsDropped.increment(by: writer.dropped - state.dropped) }
            state.written = max(state.written, writer.written)
            state.dropped = max(state.dropped, writer.dropped)
            var seen = Set<String>()
            for backend in backends {
                let url = backend.url.text
                seen.insert(url)
                // 1 while up; 0 while down or not yet checked.
                gauge("lb_backend_up", backend: url, in: &state.backendUp).record(backend.currentHealth == .up ? 1 : 0)
                gauge("lb_backend_ejected", backend: url, in: &state.backendEjected).record(backend.isEjected() ? 1 : 0)
            }
            // A removed backend's series go away rather than freezing at their last values.
            for gauges in [\ScrapeState.backendUp, \ScrapeState.backendEjected] {
                for (url, gauge) in state[keyPath: gauges] where !seen.contains(url) {
                    gauge.destroy()
                    state[keyPath: gauges][url] = nil
                }
            }
        }
        clientConnections.record(openConnections)
        databaseCommitSeconds.record(Double(writer.lastCommitMicroseconds) / 1_000_000)
        databaseWritable.record(writer.isFailing ? 0 : 1)
        databaseWALBytes.record(walBytes)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        registry.emit(into: &buffer)
        totals.emitDurationHistogram(named: Self.requestDurationName,
                                     help: "Time from a request's head to its response's end.", into: &buffer)
        return buffer
    }
}
