import NIOCore

/// The handlers of one client connection, head to tail.
enum ClientPipeline {
    /// One handler: the proxy reads and writes the connection's bytes itself, and keeps the
    /// connection's head and idle deadlines, so each read crosses no other handler.
    static func handlers(context: ProxyContext, headerTimeout: TimeAmount, idleTimeout: TimeAmount?) -> [ChannelHandler] {
        [ProxyHandler(shared: context, headTimeout: headerTimeout, idleTimeout: idleTimeout)]
    }
}
