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
        let dropped = recordFailures(benchmark.scaledIterations, into: writer, backendID: backend.id, from: now)
        benchmark.stopMeasurement()
        let statistics = writer.currentStatistics
        writer.close()
        precondition(dropped == 0 && statistics.dropped == 0, "events were dropped: \(dropped)")
        blackHole(statistics.batches)
    }

    // The same events into PostgreSQL as a daemon of a fleet sends them: the writer commits them
    // to the local outbox while the forwarder, on a thread of its own, sends the outbox on in
    // multi-row INSERTs, one transaction per pass. Measured until PostgreSQL holds every event.
    Benchmark("Outbox to PostgreSQL: failure events committed per second",
              configuration: .init(maxIterations: 3)) { benchmark in
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lb-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let server = try LocalPostgres(in: folder.appendingPathComponent("pg-data").path)
        defer {
            server.stop()
            try? FileManager.default.removeItem(at: folder)
        }
        let location = try StoreLocation(parsing: server.url)
        guard case .postgres(let target) = location else { fatalError("not a PostgreSQL URL: \(server.url)") }
        let outbox = folder.appendingPathComponent("outbox.sqlite3").path
        let fleetBackend = try Store(location: location).addBackend(url: "http://127.0.0.1:9001", actor: "bench")
        let backend = try Store(path: outbox).addBackend(url: "http://127.0.0.1:9001", actor: "bench")
        precondition(backend.id == fleetBackend.id, "the outbox's registry is the fleet's")
        let identity = InstanceIdentity(name: "bench", host: "localhost", pid: 1, listen: "127.0.0.1:0", version: "bench")
        let writer = try EventWriter(path: outbox, instance: identity, configuration: .init(capacity: 2_000_000))
        let forwarder = try OutboxForwarder(outbox: outbox, target: target, instance: "bench")
        let total = benchmark.scaledIterations.count
        let now = Timestamp.now()
        benchmark.startMeasurement()
        let done = DispatchSemaphore(value: 0)
        Thread {
            var sent = 0
            while sent < total {
                do {
                    let pass = try forwarder.forward()
                    sent += pass.events
                    if pass.events == 0 { Thread.sleep(forTimeInterval: 0.001) }
                } catch {
                    fatalError("forwarding failed: \(error)")
                }
            }
            done.signal()
        }.start()
        let dropped = recordFailures(benchmark.scaledIterations, into: writer, backendID: backend.id, from: now)
        done.wait()
        benchmark.stopMeasurement()
        writer.close()
        precondition(dropped == 0, "events were dropped: \(dropped)")
        let fleet = try Store(location: location, mode: .existing)
        let failures = try fleet.eventCountsByBackend(kind: .failure, in: TimeRange(start: now, end: now.adding(milliseconds: Int64(total))))
        precondition(failures[backend.id] == total, "PostgreSQL holds \(failures[backend.id] ?? 0) of \(total) events")
    }
}

/// Queues one `failure` event per iteration, a millisecond apart from `now`, and waits until the
/// writer committed them all; returns how many the queue refused.
func recordFailures(_ iterations: Range<Int>, into writer: EventWriter, backendID: Int64, from now: Timestamp) -> Int {
    var dropped = 0
    for index in iterations {
        let event = Event(at: now.adding(milliseconds: Int64(index)), kind: .failure, backendID: backendID,
                          requestID: "bench-\(index)", attempt: 1, detail: "connection refused")
        if !writer.record(event) { dropped += 1 }
    }
    guard writer.flush(timeout: .seconds(120)) else { fatalError("writer did not flush") }
    return dropped
}

/// A PostgreSQL server of the benchmark's own, started by scripts/start-postgres in `directory`
/// and stopped by its pid.
struct LocalPostgres {
    let directory: String
    let url: String

    init(in directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/start-postgres").path
        // system(3), not Foundation's Process: under the benchmark harness Process never saw the
        // script end (its child was left a zombie). The output goes to a file, not a pipe, which
        // the server the script starts would inherit and hold open.
        let outputPath = directory + ".url"
        guard system("'\(script)' '\(directory)' > '\(outputPath)'") == 0 else { fatalError("scripts/start-postgres failed") }
        url = ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        guard let text = try? String(contentsOfFile: "\(directory)/pg/postmaster.pid", encoding: .utf8),
              let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }) else { return }
        kill(pid, SIGINT)
        for _ in 0..<200 where FileManager.default.fileExists(atPath: "\(directory)/pg/postmaster.pid") {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
