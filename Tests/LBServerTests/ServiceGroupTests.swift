import Foundation
import LBStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
@testable import LBServer

/// The daemon's services in one `ServiceGroup`, run in-process: the order they stop in, the
/// grace period as the group's bound, and a failed bind stopping the group and the writer.
@Suite(.serialized) struct ServiceGroupTests {
    let backendGroup = MultiThreadedEventLoopGroup.singleton

    @Test func theEventWriterOutlivesTheListenerSoARequestFinishedDuringTheDrainIsRecordedBeforeTheStop() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let silent = try TestBackend(name: "silent", behaviour: .hang, group: backendGroup)
            defer { silent.stop() }
            var configuration = try Self.configuration(folder, backends: [silent])
            // The request in flight ends during the drain with a response timeout: a `failure` event
            // recorded by the listener's connection after the shutdown began.
            configuration.proxy.responseTimeout = .milliseconds(700)
            configuration.proxy.retriesPerBackend = 0
            configuration.proxy.maximumAttempts = 1
            let daemon = try await Daemon(configuration: configuration)
            let port = try await daemon.waitUntilStarted()

            let answer = Self.requestInBackground(port: port, target: "/slow")
            #expect(await poll { silent.requests == 1 })
            try await daemon.stop()

            #expect(try await answer.value == 504)
            let store = try Store(path: folder.database, mode: .existing)
            let events = try store.events(EventQuery())
            let failure = try #require(events.first { $0.kind == .failure })
            let shutdown = try #require(events.first { $0.kind == .shutdown })
            #expect(failure.id < shutdown.id)
            #expect(events.last?.kind == .shutdown, "\(events.map(\.kind))")
            let state = try store.balancerState()
            #expect(try #require(state.lastCleanStop) >= #require(state.lastStart))
            #expect(daemon.balancer.writer.isStopped)
        }
    }

    @Test func theGracePeriodBoundsTheDrainAndTheStopIsStillRecordedClean() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let silent = try TestBackend(name: "silent", behaviour: .hang, group: backendGroup)
            defer { silent.stop() }
            var configuration = try Self.configuration(folder, backends: [silent])
            configuration.gracePeriod = .milliseconds(300)
            configuration.proxy.responseTimeout = .seconds(30)
            let daemon = try await Daemon(configuration: configuration)
            let port = try await daemon.waitUntilStarted()
            let answer = Self.requestInBackground(port: port, target: "/forever")
            #expect(await poll { silent.requests == 1 })

            let stopping = ContinuousClock.now
            try await daemon.stop()
            // The group cancelled the drain at the grace period instead of waiting for the request.
            #expect(ContinuousClock.now - stopping < .seconds(10))
            let store = try Store(path: folder.database, mode: .existing)
            #expect(try store.events(EventQuery(kinds: [.shutdown])).count == 1)
            let state = try store.balancerState()
            #expect(try #require(state.lastCleanStop) >= #require(state.lastStart))
            #expect(daemon.balancer.writer.isStopped)
            // The connection still open is closed with the event loops; the client sees no answer.
            await #expect(throws: (any Error).self) { _ = try await answer.value }
        }
    }

    @Test func aTrafficPortInUseFailsTheGroupAndStopsTheWriterThread() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let holder = try TestBackend(name: "holder", group: backendGroup)
            defer { holder.stop() }
            var configuration = try Self.configuration(folder, backends: [])
            configuration.listen.port = holder.port
            let daemon = try await Daemon(configuration: configuration)
            let error = await #expect(throws: StartupError.self) { try await daemon.waitForExit() }
            #expect(error?.description == "cannot listen on 127.0.0.1:\(holder.port): address already in use")
            #expect(daemon.balancer.writer.isStopped)
            #expect(!daemon.balancer.started.isReached)
            let store = try Store(path: folder.database, mode: .existing)
            #expect(try store.events(EventQuery(kinds: [.startup, .shutdown])).isEmpty)
            #expect(try store.balancerState().lastStart == nil)
        }
    }

    @Test func anAdminPortInUseFailsTheGroupAndClosesTheTrafficPortAgain() async throws {
        try await onDedicatedExecutor {
            let folder = try TemporaryFolder()
            let holder = try TestBackend(name: "holder", group: backendGroup)
            defer { holder.stop() }
            var configuration = try Self.configuration(folder, backends: [])
            configuration.admin = HostAndPort(host: "127.0.0.1", port: holder.port)
            let daemon = try await Daemon(configuration: configuration)
            let error = await #expect(throws: StartupError.self) { try await daemon.waitForExit() }
            #expect(error?.description == "cannot listen on 127.0.0.1:\(holder.port) for --admin: address already in use")
            let port = try #require(daemon.balancer.localAddress?.port)
            #expect(throws: (any Error).self) { _ = try HTTPTestConnection(port: port) }
            #expect(daemon.balancer.writer.isStopped)
        }
    }

    // MARK: Support

    static func configuration(_ folder: TemporaryFolder, backends: [TestBackend]) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.databasePath = folder.database
        configuration.listen.port = 0
        configuration.threads = 1
        configuration.backends = backends.isEmpty ? [] : try BackendURL.parseList(backends.map(\.url).joined(separator: ","))
        return configuration
    }

    /// Sends `GET target` to the daemon from a thread of its own (the test client blocks) and
    /// gives the answer's status when it comes.
    static func requestInBackground(port: Int, target: String) -> BackgroundResult<Int> {
        let result = BackgroundResult<Int>()
        let thread = Thread {
            result.set(Result {
                let connection = try HTTPTestConnection(port: port)
                try connection.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
                return try connection.readResponse().status
            })
        }
        thread.start()
        return result
    }
}

/// A `LoadBalancer` opened in this process, its service group running in a task of its own,
/// without signals (the test stops it), on event loops it shuts down when the group has returned.
private final class Daemon: Sendable {
    let balancer: LoadBalancer
    let services: ServiceGroup
    let running: Task<Void, Error>
    let loops: MultiThreadedEventLoopGroup

    init(configuration: ServerConfiguration) async throws {
        loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        balancer = try await LoadBalancer.open(configuration: configuration, group: loops,
                                               logger: Self.logger,
                                               hangupSignals: [])
        let services = balancer.serviceGroup(gracefulShutdownSignals: [])
        self.services = services
        let loops = self.loops
        running = Task(executorPreference: DedicatedExecutor.shared) {
            do {
                try await services.run()
            } catch {
                try? await loops.shutdownGracefully()
                throw error
            }
            try? await loops.shutdownGracefully()
        }
    }

    /// Quiet, unless LB_TEST_LOG is set: then everything the daemon and its group say, on stderr.
    static var logger: Logger {
        guard ProcessInfo.processInfo.environment["LB_TEST_LOG"] != nil else {
            return Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .trace
        return logger
    }

    /// The traffic port, once the start is recorded; throws if that takes more than ten seconds.
    func waitUntilStarted() async throws -> Int {
        try await within(.seconds(10)) { [balancer] in
            try await balancer.started.value()
            return try #require(balancer.localAddress?.port)
        }
    }

    /// Asks the group for a graceful stop and waits (bounded) until it has returned.
    func stop() async throws {
        await services.triggerGracefulShutdown()
        try await waitForExit()
    }

    /// Waits, at most twenty seconds, for the group to return, and rethrows its error.
    func waitForExit() async throws {
        try await within(.seconds(20)) { [running] in try await running.value }
    }
}

/// What a background thread produced, awaited by polling with a deadline.
final class BackgroundResult<T: Sendable>: Sendable {
    private let box = NIOLockedValueBox<Result<T, Error>?>(nil)

    func set(_ result: Result<T, Error>) { box.withLockedValue { $0 = result } }

    /// The result, waiting at most `timeout` for it without blocking a thread of Swift concurrency.
    var value: T {
        get async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if let result = box.withLockedValue({ $0 }) { return try result.get() }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw TestClientError(description: "no result from the background thread in time")
        }
    }
}

/// Polls `condition` every few milliseconds, at most `timeout`, without blocking a thread.
func poll(timeout: Duration = .seconds(10), _ condition: @Sendable () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Runs `body`, failing with a `TestClientError` if it takes longer than `limit` (it is cancelled).
func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestClientError(description: "not done within \(limit)")
        }
        return value
    }
}
