import NIOCore
import NIOHTTP1

/// Told by `RequestHeadObserver` where the request stream stands.
enum RequestHeadProgress {
    /// A request head was parsed: stop the clock.
    case headReceived
    /// A request ended: the connection is idle until its next byte.
    case requestEnded
}

/// Gives a client `deadline` to deliver a complete request head, from the connection's start or
/// the first byte after the previous request; past it the client gets `408` and the connection
/// closes. Defeats clients that trickle headers to hold connections (slowloris).
///
/// Sits at the head of the pipeline, below the HTTP codec, so it sees raw bytes and writes its
/// answer as raw bytes.
final class HeaderDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHead
        case inRequest
        case idle
    }

    private let deadline: TimeAmount
    private var state = State.awaitingHead
    /// When the head being awaited is due.
    private var headDue = NIODeadline.distantFuture
    /// At most one pending timer per connection; it re-arms itself rather than being scheduled
    /// and cancelled for every request, which would cost a timer per request.
    private var timer: Scheduled<Void>?
    private let metrics: DaemonMetrics

    init(deadline: TimeAmount, metrics: DaemonMetrics) {
        self.deadline = deadline
        self.metrics = metrics
    }

    func channelActive(context: ChannelHandlerContext) {
        startClock(context: context)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startClock(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = state { startClock(context: context) }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let progress = event as? RequestHeadProgress else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch progress {
        case .headReceived: state = .inRequest
        case .requestEnded: state = .idle
        }
        promise?.succeed()
    }

    private func startClock(context: ChannelHandlerContext) {
        state = .awaitingHead
        headDue = .now() + deadline
        if timer == nil { arm(context: context, at: headDue) }
    }

    private func arm(context: ChannelHandlerContext, at due: NIODeadline) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            timer = nil
            guard case .awaitingHead = state else { return }
            if NIODeadline.now() < headDue {
                arm(context: context, at: headDue)
                return
            }
            metrics.countResponse(status: 408)
            let body = "408 Request Timeout: the request head did not arrive in time\n"
            let response = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response)))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

/// Sits right after the request decoder and reports each head and end to the
/// `HeaderDeadlineHandler` below it, before pipelining holds later requests back.
final class RequestHeadObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: context.triggerUserOutboundEvent(RequestHeadProgress.headReceived, promise: nil)
        case .end: context.triggerUserOutboundEvent(RequestHeadProgress.requestEnded, promise: nil)
        case .body: break
        }
        context.fireChannelRead(data)
    }
}
