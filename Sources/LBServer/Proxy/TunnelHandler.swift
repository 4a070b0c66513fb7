import NIOCore

/// One end of a byte tunnel between a client connection and a backend connection, after the
/// backend accepted an HTTP Upgrade (`101 Switching Protocols`, as for a WebSocket).
///
/// Both channels are on the same event loop (the pool lives on the client's loop), so the two
/// ends call each other directly. What one end reads, the other writes; reads stop while the
/// other side cannot take more. When either side closes, so does the other, and so do both when
/// nothing moved either way for the idle timeout. A graceful shutdown closes tunnels, since they
/// have no request boundary to finish at.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The other end; cleared when either end leaves its pipeline, which breaks the cycle.
    private var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var readPending = false
    private var flushScheduled = false
    /// When bytes last moved either way, shared by both ends (they run on one event loop).
    private let activity: Activity
    /// Only the first end keeps the idle timer.
    private let keepsTimer: Bool
    private var timer: Scheduled<Void>?

    /// The time of the tunnel's last read, on either end.
    private final class Activity {
        var last = NIODeadline.now()
        let idleTimeout: TimeAmount
        init(idleTimeout: TimeAmount) { self.idleTimeout = idleTimeout }
    }

    private init(activity: Activity, keepsTimer: Bool) {
        self.activity = activity
        self.keepsTimer = keepsTimer
    }

    /// Joins `a` and `b` into one tunnel, closed when idle for `idleTimeout`.
    static func pair(idleTimeout: TimeAmount) -> (TunnelHandler, TunnelHandler) {
        let activity = Activity(idleTimeout: idleTimeout)
        let a = TunnelHandler(activity: activity, keepsTimer: true)
        let b = TunnelHandler(activity: activity, keepsTimer: false)
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if keepsTimer { armTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
        partner?.partnerLeft()
        partner = nil
    }

    /// One timer for the tunnel, re-armed from the last activity when it fires early, so reads
    /// cost a clock read, not a timer.
    private func armTimer(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: activity.last + activity.idleTimeout) { [self] in
            timer = nil
            guard let context = self.context else { return }
            if NIODeadline.now() < activity.last + activity.idleTimeout {
                armTimer(context: context)
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        activity.last = .now()
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
