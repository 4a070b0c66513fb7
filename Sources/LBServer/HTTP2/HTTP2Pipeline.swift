import NIOCore
import NIOHTTP2

/// HTTP/2 on a client connection (negotiated by ALPN): swift-nio-http2 frames the connection,
/// and each stream the client opens gets the codec to HTTP/1 parts, the `HTTP2StreamBridge` and
/// a `ProxyHandler` of its own, so a stream is one request through the same path as HTTP/1.1.
enum HTTP2Pipeline {
    /// Streams a client may have open at once.
    static let maximumConcurrentStreams = 100
    /// The largest header list a client may send (bytes, as HTTP/2 counts them).
    static let maximumHeaderListSize = 32 * 1024

    static func configure(_ channel: Channel, context: ProxyContext, headerTimeout: TimeAmount,
                          idleTimeout: TimeAmount?) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maximumConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maximumHeaderListSize),
        ]
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: .init()
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandlers([
                    HTTP2FramePayloadToHTTP1ServerCodec(),
                    HTTP2StreamBridge(),
                    ProxyHandler(shared: context, headTimeout: headerTimeout, idleTimeout: idleTimeout),
                ])
            }
        }
    }
}
