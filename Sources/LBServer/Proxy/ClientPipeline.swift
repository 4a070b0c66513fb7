import NIOCore
import NIOTLS

/// The handlers of one client connection, head to tail.
enum ClientPipeline {
    /// On a plain listener, one handler: the proxy reads and writes the connection's bytes
    /// itself, and keeps the connection's head and idle deadlines, so each read crosses no other
    /// handler; a connection that opens with HTTP/2's preface (h2c with prior knowledge) becomes
    /// the HTTP/2 pipeline. With TLS, the TLS handler and, once ALPN has settled the protocol, that same
    /// handler for HTTP/1.1 or the HTTP/2 pipeline for `h2`.
    /// `acceptsPriorKnowledgeHTTP2: false` keeps a plain connection HTTP/1.1 whatever it sends
    /// (the fuzzers', which explore the project's own HTTP/1.1 layer). `live`: the contexts a
    /// reload replaces, which the connection follows (`context` is then its loop's current one).
    static func handlers(context: ProxyContext, following live: LiveProxyContext? = nil, tls: ServerTLS? = nil,
                         headerTimeout: TimeAmount, idleTimeout: TimeAmount?,
                         acceptsPriorKnowledgeHTTP2: Bool = true) -> [ChannelHandler] {
        guard let tls else {
            return [ProxyHandler(shared: context, following: live, headTimeout: headerTimeout, idleTimeout: idleTimeout,
                                 acceptsPriorKnowledgeHTTP2: acceptsPriorKnowledgeHTTP2)]
        }
        let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
            channel.eventLoop.makeCompletedFuture {
                // Read once per connection, after the handshake, for every request's log line.
                let version = ProxyHandler.negotiatedTLSVersion(of: channel)
                if case .negotiated("h2") = result {
                    try HTTP2Pipeline.configure(channel, context: context, following: live, headerTimeout: headerTimeout,
                                                idleTimeout: idleTimeout, tlsVersion: version)
                } else {
                    try channel.pipeline.syncOperations.addHandler(
                        ProxyHandler(shared: context, following: live, headTimeout: headerTimeout, idleTimeout: idleTimeout,
                                     tlsVersion: version))
                }
            }
        }
        return [tls.makeHandler(), negotiation]
    }
}
