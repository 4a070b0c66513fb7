import Foundation
import LBStore
import Logging
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
            let log = try AccessLog(destination: path, format: .keyValue)
            let running = Task(executorPreference: DedicatedExecutor.shared) { await log.run() }
            for index in 0..<5_000 { log.record(Self.entry(index)) }
            #expect(await poll { Self.lines(path).count == 5_000 })
            for index in 5_000..<6_000 { log.record(Self.entry(index)) }
            running.cancel()
            await running.value
            let lines = Self.lines(path)
            #expect(lines.count == 6_000)
            #expect(lines.first?.hasSuffix("request_id=r0") == true, "\(lines.first ?? "")")
            #expect(lines.last?.hasSuffix("request_id=r5999") == true, "\(lines.last ?? "")")
            // Closed: what comes after the stop is dropped, not written.
            log.record(Self.entry(6_000))
            #expect(Self.lines(path).count == 6_000)
        }
    }

    @Test func aFullQueueDropsAndSaysHowManyInALineOfItsOwn() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let path = folder.url.appendingPathComponent("access.log").path
            let log = try AccessLog(destination: path, format: .json)
            // Nothing consumes before the service runs: the queue fills and the rest is counted.
            for index in 0..<(AccessLog.capacity + 5) { log.record(Self.entry(index)) }
            let group = ServiceGroup(configuration: .init(services: [log], logger: Logger(label: "test")))
            let running = Task(executorPreference: DedicatedExecutor.shared) { try await group.run() }
            #expect(await poll(timeout: .seconds(20)) { Self.lines(path).count == AccessLog.capacity + 1 })
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

    static func entry(_ index: Int) -> AccessLog.Entry {
        AccessLog.Entry(at: .now(), client: "127.0.0.1", method: "GET", path: "/\(index)", status: 200, bytes: 5,
                        durationNanoseconds: 1_000_000, backend: "http://127.0.0.1:9", requestID: "r\(index)")
    }

    static func lines(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
    }
}
