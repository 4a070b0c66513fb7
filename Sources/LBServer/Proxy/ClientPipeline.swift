import NIOCore
import NIOHTTP1

/// The handlers of one client connection, head to tail.
enum ClientPipeline {
    /// NIO's HTTP server pipeline spelled out, so the head observer sits right after the decoder
    /// and parser errors get our answers, followed by the proxy.
    static func handlers(context: ProxyContext, headerTimeout: TimeAmount, idleTimeout: TimeAmount?) -> [ChannelHandler] {
        var handlers: [ChannelHandler] = [HeaderDeadlineHandler(deadline: headerTimeout, metrics: context.sink.metrics)]
        if let idleTimeout { handlers.append(IdleStateHandler(allTimeout: idleTimeout)) }
        handlers += [
            HTTPResponseEncoder(),
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)),
            RequestHeadObserver(),
            HTTPServerPipelineHandler(),
            ProtocolErrorHandler(metrics: context.sink.metrics),
            ProxyHandler(shared: context),
        ]
        return handlers
    }
}
