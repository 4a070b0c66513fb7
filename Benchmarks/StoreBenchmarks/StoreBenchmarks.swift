import Benchmark
import Foundation
import LBStore

/// Events per second through `EventWriter` into a real file: each iteration queues one
/// `failure` event; a run of a million ends with a flush, so the figure counts committed rows.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .peakMemoryResident],
                                           scalingFactor: .mega, maxDuration: .seconds(30), maxIterations: 5)

    Benchmark("EventWriter: failure events committed per second") { benchmark in
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lb-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("lb.sqlite3").path
        let backend = try Store(path: path).addBackend(url: "http://127.0.0.1:9001", actor: "bench")
        let writer = try EventWriter(path: path, configuration: .init(capacity: 2_000_000))
        let now = Timestamp.now()
        benchmark.startMeasurement()
        var dropped = 0
        for index in benchmark.scaledIterations {
            let event = Event(at: now.adding(milliseconds: Int64(index)), kind: .failure, backendID: backend.id,
                              requestID: "bench-\(index)", attempt: 1, detail: "connection refused")
            if !writer.record(event) { dropped += 1 }
        }
        guard writer.flush(timeout: .seconds(120)) else { fatalError("writer did not flush") }
        benchmark.stopMeasurement()
        let statistics = writer.currentStatistics
        writer.close()
        precondition(dropped == 0 && statistics.dropped == 0, "events were dropped: \(dropped)")
        blackHole(statistics.batches)
    }
}
