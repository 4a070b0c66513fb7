import NIOCore
import NIOHTTP2

/// HTTP/2 on a client connection (negotiated by ALPN, or h2c with prior knowledge):
/// swift-nio-http2 frames the connection, and each stream the client opens gets an
/// `HTTP2StreamAdapter` and a `ProxyHandler` of its own, so a stream is one request through the
/// same path as HTTP/1.1. Below the HTTP/2 handler, `FlushCoalescer` gathers the connection's
/// writes per turn of the event loop and `HTTP2ErrorCloser` decides which errors close it.
enum HTTP2Pipeline {
    /// Streams a client may have open at once.
    static let maximumConcurrentStreams = 100
    /// The largest header list a client may send (bytes, as HTTP/2 counts them).
    static let maximumHeaderListSize = 32 * 1024

    /// `tlsVersion`: the connection's, which each stream's access log line gives. `live`: the
    /// contexts a reload replaces; each stream takes its loop's current one when it opens.
    static func configure(_ channel: Channel, context: ProxyContext, following live: LiveProxyContext? = nil,
                          headerTimeout: TimeAmount, idleTimeout: TimeAmount?, tlsVersion: String?) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maximumConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maximumHeaderListSize),
        ]
        // The known floods, each bounded (swift-nio-http2 answers GOAWAY ENHANCE_YOUR_CALM, and
        // `HTTP2ErrorCloser` closes the connection): a header block in more than 5 CONTINUATION frames (CVE-2024-27316); more than
        // 200 PING, SETTINGS or PRIORITY frames in 30 s; more than 10 000 control frames waiting
        // for a client that does not read.
        connection.maximumSequentialContinuationFrames = 5
        connection.controlFrameRateLimit.maximumCount = 200
        connection.controlFrameRateLimit.windowLength = .seconds(30)
        connection.maximumBufferedControlFrames = 10_000
        var streams = NIOHTTP2Handler.StreamConfiguration()
        // Rapid reset (CVE-2023-44487): more than 200 streams reset, or failed, in 30 s.
        streams.streamResetFrameRateLimit.maximumCount = 200
        streams.streamResetFrameRateLimit.windowLength = .seconds(30)
        streams.streamErrorRateLimit.maximumCount = 200
        streams.streamErrorRateLimit.windowLength = .seconds(30)
        // A stop (the listener's quiesce) sends GOAWAY and closes once the open streams are done,
        // within the daemon's grace period; a connection idle for the client idle timeout closes
        // the same way.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: idleTimeout, maxAge: nil, maxGraceTime: nil, keepalive: nil))
        try channel.pipeline.syncOperations.addHandlers([FlushCoalescer(), HTTP2ErrorCloser()])
        let clientAddress = channel.remoteAddress?.ipAddress
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: streams,
            streamDelegate: manager.http2StreamDelegate
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandlers([
                    HTTP2StreamAdapter(),
                    // A stream serves one request: no idle time between requests to bound (the
                    // connection's idle time is the manager's).
                    ProxyHandler(shared: context, following: live, headTimeout: headerTimeout, idleTimeout: nil,
                                 tlsVersion: tlsVersion, overHTTP2: true, clientAddress: clientAddress),
                ])
            }
        }
        // Which errors close the connection is `HTTP2ErrorCloser`'s decision, below the HTTP/2
        // handler: a stream's error ends only that stream.
        try channel.pipeline.syncOperations.addHandlers([manager, ClientGoawayCloser()])
    }
}

/// Closes the connection once the client has sent GOAWAY and no stream is open any more: the
/// client will open none, and some (h2load's timed runs) wait for the server to close.
final class ClientGoawayCloser: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    private var openStreams = 0
    private var goawayReceived = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload {
            goawayReceived = true
            closeIfDone(context: context)
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NIOHTTP2StreamCreatedEvent {
            openStreams += 1
        } else if event is StreamClosedEvent {
            openStreams -= 1
            closeIfDone(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func closeIfDone(context: ChannelHandlerContext) {
        if goawayReceived && openStreams <= 0 { context.close(promise: nil) }
    }
}
