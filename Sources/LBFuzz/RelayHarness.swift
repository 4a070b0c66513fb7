#if LB_FUZZ || DEBUG
@testable import LBServer
import Foundation
import LBStore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Runs client bytes through the proxy as `lbserver` builds it (the client pipeline, a round-robin
/// balancer, the per-loop keep-alive pool) with every connection an `EmbeddedChannel` on one
/// `EmbeddedEventLoop`: backend connections come from the pool's connector seam and are served by
/// `OracleBackend`s. Deterministic, no socket, no thread.
///
/// One run has two clients in turn over the same pool: the input's bytes (in two reads, split where
/// its first byte says), then a victim's plain `GET /victim`, which must get its own answer.
/// Retries are off (one try per request), so every request reaches the backend at most once.
final class RelayHarness {
    /// One client connection and what it received.
    final class Client {
        let channel: EmbeddedChannel
        let responses = NIOHTTP1ResponseReader()
        /// Every byte the proxy wrote to this client.
        private(set) var received: [UInt8] = []
        private(set) var closedByProxy = false

        init(channel: EmbeddedChannel) { self.channel = channel }

        func drain() -> Bool {
            var moved = false
            while let bytes = try? channel.readOutbound(as: ByteBuffer.self) {
                moved = true
                received += bytes.readableBytesView
                responses.feed(bytes)
            }
            if !channel.isActive && !closedByProxy {
                closedByProxy = true
                responses.feedClose()
                moved = true
            }
            return moved
        }
    }

    static let clientAddress = "192.0.2.7"
    static let victimRequest = "GET /victim HTTP/1.1\r\nHost: victim.example\r\n\r\n"
    /// The settings of the fuzzed proxy: small limits, so inputs reach them; one try per request.
    static let settings: ProxySettings = {
        var settings = ProxySettings()
        settings.maxRequestLineBytes = 256
        settings.maxHeaderBytes = 1_024
        settings.maxHeaders = 16
        settings.retriesPerBackend = 0
        settings.maximumAttempts = 1
        return settings
    }()

    private let loop = EmbeddedEventLoop()
    private let shapeSeed: Int
    private(set) var backends: [OracleBackend] = []
    private(set) var exchanges: [OracleBackend.Exchange] = []
    private(set) var attacker: Client?
    private(set) var victim: Client?

    init(shapeSeed: Int) {
        self.shapeSeed = shapeSeed
    }

    /// Runs `input` (the attacker's bytes) and then the victim's request; `attackerMethods` are
    /// the attacker's request methods as NIOHTTP1 read them, so the client's response reader knows
    /// which answers have no body.
    func run(_ input: [UInt8], attackerMethods: [HTTPMethod]) {
        let context = makeContext()
        let attacker = connectClient(context)
        self.attacker = attacker
        for method in attackerMethods { attacker.responses.expectAnswer(to: method) }
        // Refused or unread requests are answered too: room for a few answers past NIOHTTP1's count.
        for _ in 0..<64 { attacker.responses.expectAnswer(to: .GET) }
        let split = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
        for part in [input[..<split], input[split...]] where !part.isEmpty {
            if attacker.channel.isActive { _ = try? attacker.channel.writeInbound(ByteBuffer(bytes: part)) }
            pumpUntilQuiet()
        }
        close(attacker)

        let victim = connectClient(context)
        self.victim = victim
        victim.responses.expectAnswer(to: .GET)
        _ = try? victim.channel.writeInbound(ByteBuffer(string: Self.victimRequest))
        pumpUntilQuiet()
        close(victim)
        for backend in backends where backend.channel.isActive { _ = backend.channel.close() }
        loop.run()
    }

    /// Everything that can move moves, a bounded number of rounds.
    private func pumpUntilQuiet() {
        for _ in 0..<256 {
            loop.run()
            var moved = false
            for client in [attacker, victim].compactMap({ $0 }) where client.drain() { moved = true }
            for backend in backends {
                if backend.receive(nextSequence: { exchanges.count }, pick: pickShape, record: { exchanges.append($0) }) {
                    moved = true
                }
                if backend.deliverOne() { moved = true }
            }
            for client in [attacker, victim].compactMap({ $0 }) where client.drain() { moved = true }
            if !moved { return }
        }
    }

    private func pickShape(_ sequence: Int) -> OracleBackend.Shape {
        let shapes = OracleBackend.Shape.allCases
        return shapes[(shapeSeed &+ sequence) % shapes.count]
    }

    private func close(_ client: Client) {
        if client.channel.isActive { _ = client.channel.close() }
        pumpUntilQuiet()
    }

    private func connectClient(_ context: ProxyContext) -> Client {
        let channel = EmbeddedChannel(loop: loop)
        channel.remoteAddress = try? SocketAddress(ipAddress: Self.clientAddress, port: 40_000)
        _ = try? channel.pipeline.syncOperations.addHandlers(
            ClientPipeline.handlers(context: context, headerTimeout: .seconds(10), idleTimeout: nil,
                                    acceptsPriorKnowledgeHTTP2: false))
        _ = channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 8_080))
        return Client(channel: channel)
    }

    private func makeContext() -> ProxyContext {
        let backend = BackendRuntime(id: 1, url: try! BackendURL(parsing: "http://127.0.0.1:9"), slot: 0, health: .up,
                                     weight: 1, adminState: .enabled)
        let balancer = RoundRobin()
        balancer.replace(with: BackendSnapshot([backend]))
        // The connector hands the proxy a fresh in-memory connection served by a fake backend.
        let box = UnsafeHarnessBox(self)
        let pools = UpstreamPools(eventLoops: [loop], settings: Self.settings) { _, handler in
            let harness = box.harness
            let channel = EmbeddedChannel(handler: handler, loop: harness.loop)
            _ = channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 9))
            harness.backends.append(OracleBackend(channel: channel, index: harness.backends.count))
            return harness.loop.makeSucceededFuture(channel)
        }
        // Fresh metrics per run: they keep one entry per event loop, and each run has its own loop.
        // Events are not what is judged: they are dropped before they are built.
        let sink = EventSink(writer: Self.writer, logger: Logger(label: "relay-fuzz"), metrics: DaemonMetrics(),
                             discardsEvents: true)
        return ProxyContext(balancer: balancer, hashKey: nil, pools: pools, clientScheme: "http", sink: sink, settings: Self.settings,
                            accessLog: nil, markedDown: { _ in },
                            trafficMarkDowns: TrafficMarkDownGuard(window: Self.settings.connectTimeout))
    }

    /// One event writer for the process (the sink needs one; nothing is written): one database
    /// per user, not per process, as libFuzzer's fork mode starts a process per job. One that
    /// cannot be used (another build left it at a newer schema) gives way to one of the process's.
    nonisolated(unsafe) private static var cachedWriter: EventWriter?

    private static var writer: EventWriter {
        if let cachedWriter { return cachedWriter }
        let made = (try? EventWriter(path: "/tmp/lb-relay-fuzz-\(getuid()).sqlite3"))
            ?? (try! EventWriter(path: "/tmp/lb-relay-fuzz-\(getuid())-\(getpid()).sqlite3"))
        cachedWriter = made
        return made
    }
}

/// Carries the harness into the connector, which must be `@Sendable`.
// @unchecked Sendable: the harness, its loop and its channels are used on one thread only.
private struct UnsafeHarnessBox: @unchecked Sendable {
    unowned let harness: RelayHarness
    init(_ harness: RelayHarness) { self.harness = harness }
}
#endif
