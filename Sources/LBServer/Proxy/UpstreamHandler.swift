import NIOCore

/// Receives what an upstream connection delivers for the request it is serving.
/// All calls happen on the connection's event loop, which is also the client's.
protocol UpstreamDelegate: AnyObject {
    /// The final response head. Returns whether the body should come without its chunk framing.
    func upstreamResponseHead(_ head: ResponseHead) -> Bool
    /// An interim 1xx answer other than `101` (`100`, `103 Early Hints`...), before the final one.
    func upstreamInterimResponse(_ head: ResponseHead)
    /// Body bytes, as the backend framed them unless the head's answer asked otherwise.
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd()
    func upstreamReadComplete()
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ error: UpstreamError)
    func upstreamWritabilityChanged(isWritable: Bool)
}

/// Why an exchange with a backend failed.
struct UpstreamError: Error, CustomStringConvertible {
    enum Kind {
        case connect
        case reset
        case timeout
        case protocolViolation
    }

    let kind: Kind
    let description: String
}

/// The only handler of an upstream connection: cuts the backend's bytes into responses, hands
/// them to its delegate, and holds back reads while the client cannot take more (back-pressure).
/// Requests are written to the channel as bytes the proxy already framed.
///
/// It also keeps the connection's timeout: when nothing moved either way for `timeout`, a stuck
/// exchange fails and an idle pooled connection is retired. One timer per connection re-arms
/// itself from the last activity, so no timer or promise is made per request.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The proxy handler of the exchange in progress. Held strongly and cleared whenever the
    /// exchange ends (back to the pool, abandoned, failed, tunnelled), which breaks the cycle
    /// through the exchange. Not weak: a weak reference would move the proxy handler's reference
    /// count into a side table, and every retain and release of it would take the slow path.
    var delegate: UpstreamDelegate? {
        didSet { delegateChanges &+= 1 }
    }
    /// Counts changes of `delegate`, so a read can hold its delegate once and still notice when
    /// a callback ended the exchange.
    private var delegateChanges = 0
    private let timeout: TimeAmount
    /// When bytes last moved either way; also the time of the read being handled, which the
    /// proxy uses as "now" for the response's end instead of reading the clock again.
    private(set) var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var readsPaused = false
    private var readPending = false
    private var context: ChannelHandlerContext?
    private var reader = MessageReader(firstLineLimit: 64 * 1024, headLimit: 64 * 1024)
    private var requestIsHEAD = false
    /// An interim (1xx) head was read; its end event is skipped.
    private var interimEndPending = false
    /// False once the backend sent bytes past the end of a response: the connection's framing
    /// can no longer be trusted, so it is not reused.
    private(set) var isReusable = true

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { armTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        delegate = nil
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        noteActivity()
        armTimer(context: context)
        context.fireChannelActive()
    }

    /// Prepares for the response to a new request; a response to HEAD has no body.
    func beginExchange(delegate: UpstreamDelegate, requestIsHEAD: Bool) {
        self.delegate = delegate
        self.requestIsHEAD = requestIsHEAD
    }

    /// Writes request bytes from this handler's place in the pipeline (the channel's tail would
    /// pass them through this handler anyway).
    func send(_ bytes: ByteBuffer, now: NIODeadline) {
        // `now` may predate a connect that completed since; the later time counts.
        if now > lastActivity { lastActivity = now }
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    func flushRequest() { context?.flush() }

    /// Bytes went to the backend or came from it: the timeout starts again.
    func noteActivity() { lastActivity = .now() }

    private func armTimer(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastActivity + timeout) { [self] in
            timer = nil
            guard let context = self.context, context.channel.isActive else { return }
            if NIODeadline.now() < lastActivity + timeout {
                armTimer(context: context)
            } else {
                timedOut(context: context)
            }
        }
    }

    /// Nothing moved either way for the whole timeout: a stuck exchange fails, an idle pooled
    /// connection is retired.
    private func timedOut(context: ChannelHandlerContext) {
        let delegate = self.delegate
        self.delegate = nil
        isReusable = false
        context.close(promise: nil)
        delegate?.upstreamFailed(UpstreamError(kind: .timeout, description: "backend sent nothing for \(timeout.humanDescription)"))
    }

    /// Bytes the backend sent after the response that switched protocols: the tunnel's first.
    func takeBuffered() -> ByteBuffer? { reader.takeBuffered() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let delegate else {
            // Bytes on an idle pooled connection: the backend is confused; do not reuse it.
            isReusable = false
            context.close(promise: nil)
            return
        }
        let changes = delegateChanges
        noteActivity()
        reader.append(unwrapInboundIn(data))
        do {
            while delegateChanges == changes, let event = try reader.next() {
                switch event {
                case .head(let bytes):
                    let head = try ResponseHead.parse(bytes, requestWasHEAD: requestIsHEAD)
                    if head.status < 200 && head.status != 101 {
                        // The reader ends the interim message next; that end is not the response's.
                        reader.beginBody(.none, maximumTrailerBytes: 0)
                        interimEndPending = true
                        delegate.upstreamInterimResponse(head)
                        continue
                    }
                    let payloadOnly = delegate.upstreamResponseHead(head)
                    reader.beginBody(head.framing, maximumTrailerBytes: 64 * 1024, payloadOnly: payloadOnly)
                case .body(let body):
                    delegate.upstreamResponseBody(body)
                case .end:
                    if interimEndPending {
                        interimEndPending = false
                        continue
                    }
                    if reader.bufferedBytes > 0 { isReusable = false }
                    // The next response cannot start before the next request; anything buffered is
                    // a tunnel's (after 101) or makes the connection unusable.
                    delegate.upstreamResponseEnd()
                    return
                }
            }
        } catch {
            let delegate = self.delegate
            self.delegate = nil
            isReusable = false
            context.close(promise: nil)
            delegate?.upstreamFailed(UpstreamError(kind: .protocolViolation, description: "invalid response: \(error)"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        isReusable = false
        let delegate = self.delegate
        self.delegate = nil
        if reader.readsUntilClose {
            // A body without framing ends where the connection does (RFC 9112 §6.3, rule 8).
            delegate?.upstreamResponseEnd()
        } else {
            delegate?.upstreamFailed(UpstreamError(kind: .reset, description: "connection closed by backend"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        isReusable = false
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        delegate?.upstreamFailed(UpstreamError(kind: .reset, description: "\(error)"))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    /// Stops reading from the backend until `resumeReads`.
    func pauseReads() { readsPaused = true }

    func resumeReads() {
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }
}
