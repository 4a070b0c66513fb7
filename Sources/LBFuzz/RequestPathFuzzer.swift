#if LB_FUZZ
@testable import LBServer
import LBStore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix

/// libFuzzer entry point over the request path: arbitrary bytes go through the same client
/// pipeline `lbserver` builds (the proxy handler with its parser, limits, pipelining and local
/// answers), in an `EmbeddedChannel`.
///
/// Built only with `-DLB_FUZZ -sanitize=fuzzer` (scripts/fuzz), into the `lbserver-fuzz` product,
/// whose `FuzzEntryPoint` hands control to libFuzzer's driver.
public func fuzzRequestPath(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: count)
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    var settings = ProxySettings()
    settings.maxRequestLineBytes = 256
    settings.maxHeaderBytes = 1_024
    settings.maxHeaders = 16
    let context = FuzzHarness.context(settings: settings)
    do {
        try channel.pipeline.syncOperations.addHandlers(
            ClientPipeline.handlers(context: context, headerTimeout: .seconds(10), idleTimeout: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // Feed the input in two reads split at a point it chooses, to reach partial-parse states.
        let split = count > 0 ? Int(bytes[0]) % (count + 1) : 0
        for part in [bytes[..<split], bytes[split...]] where !part.isEmpty {
            try channel.writeInbound(channel.allocator.buffer(bytes: part))
            while try channel.readOutbound(as: ByteBuffer.self) != nil {}
        }
    } catch {
        // Refusing the input (a parse error, a closed channel) is a correct outcome.
    }
    return 0
}

/// Shared objects the fuzzed pipeline needs: no backends (every request is answered locally),
/// an event writer on a throw-away database.
enum FuzzHarness {
    nonisolated(unsafe) private static var cached: ProxyContext?

    static func context(settings: ProxySettings) -> ProxyContext {
        if let cached { return cached }
        let path = "/tmp/lb-fuzz-\(getpid()).sqlite3"
        let writer = try! EventWriter(path: path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let made = ProxyContext(balancer: RoundRobin(), hashKey: nil, pools: UpstreamPools(group: group, settings: settings),
                                sink: EventSink(writer: writer, logger: Logger(label: "fuzz")), settings: settings, accessLog: nil,
                                markedDown: { _ in }, trafficMarkDowns: TrafficMarkDownGuard(window: .seconds(2)))
        cached = made
        return made
    }
}
#endif
