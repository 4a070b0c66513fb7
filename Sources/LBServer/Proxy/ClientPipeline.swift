import NIOCore

/// The handlers of one client connection, head to tail.
enum ClientPipeline {
    /// TLS first where the listener has certificates, then one handler: the proxy reads and
    /// writes the connection's bytes itself, and keeps the connection's head and idle deadlines,
    /// so each read crosses no other handler.
    static func handlers(context: ProxyContext, tls: ServerTLS? = nil, headerTimeout: TimeAmount,
                         idleTimeout: TimeAmount?) -> [ChannelHandler] {
        let proxy = ProxyHandler(shared: context, headTimeout: headerTimeout, idleTimeout: idleTimeout)
        guard let tls else { return [proxy] }
        return [tls.makeHandler(), proxy]
    }
}
