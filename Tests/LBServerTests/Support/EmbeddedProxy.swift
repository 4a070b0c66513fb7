import Foundation
import LBStore
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import LBServer

/// A client connection through the proxy handler with every channel an `EmbeddedChannel` on one
/// `EmbeddedEventLoop`: the client's pipeline as `lbserver` builds it, and backend connections
/// opened through the pool's connector seam, each an `EmbeddedChannel` the test answers by hand.
/// Time moves only when the test advances it; nothing runs on another thread.
final class EmbeddedProxy {
    /// Counts the `read()` calls that reach the head of a pipeline: what the handlers above let
    /// through (back-pressure holds them back).
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        private(set) var reads = 0

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// One backend connection the proxy opened.
    final class Upstream {
        let channel: EmbeddedChannel
        let reads: ReadCounter
        /// The backend it leads to.
        let backendID: Int64

        init(channel: EmbeddedChannel, reads: ReadCounter, backendID: Int64) {
            self.channel = channel
            self.reads = reads
            self.backendID = backendID
        }

        /// Every byte the proxy wrote to this backend connection since the last call.
        func received() -> String {
            var text = ""
            while let bytes = try? channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: bytes)
            }
            return text
        }

        /// The backend sends `text`.
        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }
    }

    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let clientReads = ReadCounter()
    let backends: [BackendRuntime]
    private(set) var upstreams: [Upstream] = []
    let settings: ProxySettings
    private let folder: TemporaryFolder
    private let writer: EventWriter

    init(backends count: Int = 1, settings: ProxySettings = ProxySettings()) throws {
        self.settings = settings
        folder = try TemporaryFolder()
        writer = try EventWriter(path: folder.database)
        backends = try (0..<count).map { index in
            BackendRuntime(id: Int64(index + 1), url: try BackendURL(parsing: "http://127.0.0.1:\(9_001 + index)"),
                           slot: index, health: .up, weight: 1, adminState: .enabled)
        }
        let balancer = RoundRobin()
        balancer.replace(with: BackendSnapshot(backends))
        client = EmbeddedChannel(loop: loop)
        let box = Box(self)
        let pools = UpstreamPools(eventLoops: [loop], settings: settings) { backend, handler in
            let proxy = box.proxy
            let reads = ReadCounter()
            let channel = EmbeddedChannel(loop: proxy.loop)
            try! channel.pipeline.syncOperations.addHandlers([reads, handler])
            _ = channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 9_001))
            proxy.upstreams.append(Upstream(channel: channel, reads: reads, backendID: backend.id))
            return proxy.loop.makeSucceededFuture(channel)
        }
        // Events are not what these tests judge: they are dropped before they are built.
        let sink = EventSink(writer: writer, logger: Logger(label: "embedded-proxy"), discardsEvents: true)
        let context = ProxyContext(balancer: balancer, hashKey: nil, pools: pools, clientScheme: "http", sink: sink, settings: settings,
                                   accessLog: nil, markedDown: { _ in },
                                   trafficMarkDowns: TrafficMarkDownGuard(window: .seconds(2)))
        client.remoteAddress = try SocketAddress(ipAddress: "192.0.2.7", port: 40_000)
        try client.pipeline.syncOperations.addHandler(clientReads)
        try client.pipeline.syncOperations.addHandlers(
            ClientPipeline.handlers(context: context, headerTimeout: .seconds(10), idleTimeout: nil))
        _ = client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 8_080))
    }

    deinit {
        _ = try? client.finish()
        for upstream in upstreams { _ = try? upstream.channel.finish() }
        writer.close()
    }

    /// The client sends `text`.
    func send(_ text: String) throws {
        try client.writeInbound(ByteBuffer(string: text))
        loop.run()
    }

    /// Every byte the proxy wrote to the client since the last call.
    func received() -> String {
        var text = ""
        while let bytes = try? client.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: bytes)
        }
        return text
    }

    /// The backend connection opened `index`-th (from 0).
    func upstream(_ index: Int) throws -> Upstream {
        try #require(index < upstreams.count, "the proxy opened \(upstreams.count) backend connection(s)")
        return upstreams[index]
    }

    /// Whether the proxy handler is still in the client's pipeline.
    var proxyHandlerIsInPipeline: Bool {
        (try? client.pipeline.syncOperations.handler(type: ProxyHandler.self)) != nil
    }

    /// Carries the fixture into the connector, which must be `@Sendable`.
    // @unchecked Sendable: the fixture, its loop and its channels are used on the test's thread only.
    private struct Box: @unchecked Sendable {
        unowned let proxy: EmbeddedProxy
        init(_ proxy: EmbeddedProxy) { self.proxy = proxy }
    }
}

