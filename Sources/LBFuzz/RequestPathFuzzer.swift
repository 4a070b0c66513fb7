#if LB_FUZZ || DEBUG
@testable import LBServer
import LBStore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer entry point over the request path: arbitrary bytes go through the same client
/// pipeline `lbserver` builds (the proxy handler with its parser, limits, pipelining and local
/// answers), in an `EmbeddedChannel`.
///
/// Built with `-DLB_FUZZ -sanitize=fuzzer` (scripts/fuzz) into the `lbserver-fuzz` product, whose
/// `FuzzEntryPoint` hands control to libFuzzer's driver; in debug builds too, where
/// `RequestPathCorpusTests` replays the seed corpus through it.
public func fuzzRequestPath(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    _ = runRequestPath(UnsafeBufferPointer(start: start, count: count))
    return 0
}

/// Feeds `bytes` through the client pipeline and returns what it wrote back to the client.
func runRequestPath(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    var written: [UInt8] = []
    do {
        try channel.pipeline.syncOperations.addHandlers(
            ClientPipeline.handlers(context: FuzzHarness.context, headerTimeout: .seconds(10), idleTimeout: nil,
                                    acceptsPriorKnowledgeHTTP2: false))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // Feed the input in two reads split at a point it chooses, to reach partial-parse states.
        let split = bytes.count > 0 ? Int(bytes[0]) % (bytes.count + 1) : 0
        for part in [bytes[..<split], bytes[split...]] where !part.isEmpty {
            try channel.writeInbound(channel.allocator.buffer(bytes: part))
            while let out = try channel.readOutbound(as: ByteBuffer.self) { written += out.readableBytesView }
        }
    } catch {
        // Refusing the input (a parse error, a closed channel) is a correct outcome.
    }
    return written
}

/// Shared objects the fuzzed pipeline needs: no backends (every request is answered locally),
/// an event writer on a throw-away database.
enum FuzzHarness {
    /// Small limits, so that short inputs reach the limit paths.
    static let settings: ProxySettings = {
        var settings = ProxySettings()
        settings.maxRequestLineBytes = 256
        settings.maxHeaderBytes = 1_024
        settings.maxHeaders = 16
        return settings
    }()

    /// The throw-away database of the process's event writer, removed when the process exits.
    static let databasePath = "/tmp/lb-fuzz-\(getpid()).sqlite3"

    static let context: ProxyContext = {
        let writer = try! EventWriter(path: databasePath)
        atexit {
            for suffix in ["", "-wal", "-shm"] { unlink(FuzzHarness.databasePath + suffix) }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        return ProxyContext(balancer: RoundRobin(), hashKey: nil, pools: UpstreamPools(group: group, settings: settings), clientScheme: "http",
                            sink: EventSink(writer: writer, logger: Logger(label: "fuzz")), settings: settings,
                            accessLog: nil, markedDown: { _ in }, trafficMarkDowns: TrafficMarkDownGuard(window: .seconds(2)))
    }()
}
#endif
