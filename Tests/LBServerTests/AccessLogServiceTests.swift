import Foundation
import LBStore
import Logging
import NIOPosix
import ServiceLifecycle
import Testing
@testable import LBServer

/// The access log as a Service: what is queued is written when it stops, in order; a full queue
/// is counted in a line of its own; recording never waits for the file.
@Suite struct AccessLogServiceTests {
    @Test func everythingQueuedIsWrittenInOrderWhenTheServiceStops() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let path = folder.url.appendingPathComponent("access.log").path
            let log = try AccessLog(destination: path, format: .keyValue, threadPool: Self.threadPool)
            let running = Task(executorPreference: DedicatedExecutor.shared) { await log.run() }
            for index in 0..<5_000 { log.record(Self.entry(index)) }
            #expect(await poll { Self.tail(path).hasSuffix("request_id=r4999 tls=-\n") })
            for index in 5_000..<6_000 { log.record(Self.entry(index)) }
            running.cancel()
            await running.value
            let lines = Self.lines(path)
            #expect(lines.count == 6_000)
            #expect(lines.first?.hasSuffix("request_id=r0 tls=-") == true, "\(lines.first ?? "")")
            #expect(lines.last?.hasSuffix("request_id=r5999 tls=-") == true, "\(lines.last ?? "")")
            // Closed: what comes after the stop is dropped, not written.
            log.record(Self.entry(6_000))
            #expect(Self.lines(path).count == 6_000)
        }
    }

    @Test func aFullQueueDropsAndSaysHowManyInALineOfItsOwn() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let path = folder.url.appendingPathComponent("access.log").path
            let log = try AccessLog(destination: path, format: .json, threadPool: Self.threadPool)
            // Nothing consumes before the service runs: the queue fills and the rest is counted.
            for index in 0..<(AccessLog.capacity + 5) { log.record(Self.entry(index)) }
            let group = ServiceGroup(configuration: .init(services: [log], logger: Logger(label: "test")))
            let running = Task(executorPreference: DedicatedExecutor.shared) { try await group.run() }
            // The count is written with the batch it follows, so the file is complete once it shows.
            #expect(await poll(timeout: .seconds(20)) { Self.tail(path).contains("\"dropped\":5") })
            await group.triggerGracefulShutdown()
            try await running.value
            let lines = Self.lines(path)
            #expect(lines.count == AccessLog.capacity + 1)
            #expect(lines.last?.contains("\"dropped\":5") == true, "\(lines.last ?? "")")
        }
    }

    @Test func aFileThatCannotBeOpenedIsAnErrorThatNamesIt() throws {
        #expect(throws: AccessLog.OpenError.self) {
            _ = try AccessLog(destination: "/nonexistent-folder/access.log", format: .keyValue)
        }
    }

    /// A pool of the tests' own, so that formatting 65 536 lines does not hold up the in-process
    /// daemons' use of the shared one.
    static let threadPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    static func entry(_ index: Int) -> AccessLog.Entry {
        AccessLog.Entry(at: .now(), client: "127.0.0.1", method: "GET", path: "/\(index)", status: 200, bytes: 5,
                        durationNanoseconds: 1_000_000, backend: "http://127.0.0.1:9", requestID: "r\(index)")
    }

    /// The file's last few hundred bytes; cheap enough to poll.
    static func tail(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let end = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: end > 400 ? end - 400 : 0)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    static func lines(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
    }
}
