import NIOCore

/// One end of a byte tunnel between a client connection and a backend connection, after the
/// backend accepted an HTTP Upgrade (`101 Switching Protocols`, as for a WebSocket).
///
/// Both channels are on the same event loop (the pool lives on the client's loop), so the two
/// ends call each other directly. What one end reads, the other writes; reads stop while the
/// other side cannot take more. When either side closes, so does the other. A graceful shutdown
/// closes tunnels, since they have no request boundary to finish at.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The other end; cleared when either end leaves its pipeline, which breaks the cycle.
    private var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var readPending = false
    private var flushScheduled = false

    /// Joins `a` and `b` into one tunnel.
    static func pair() -> (TunnelHandler, TunnelHandler) {
        let a = TunnelHandler()
        let b = TunnelHandler()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner?.partnerLeft()
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let other = partner?.context else { return }
        other.write(NIOAny(unwrapInboundIn(data)), promise: nil)
        // Bytes the HTTP decoder hands on as it leaves come with no read-complete after them:
        // flush once this turn of the loop is over, whatever delivered them.
        if !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute { [self] in
                flushScheduled = false
                partner?.context?.flush()
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReads() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let other = partner?.context, !other.channel.isWritable {
            readPending = true
            return
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func resumeReads() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    private func partnerLeft() {
        partner = nil
        context?.close(promise: nil)
    }
}
