import NIOCore

/// Receives what an upstream connection delivers for the request it is serving.
/// All calls happen on the connection's event loop, which is also the client's.
protocol UpstreamDelegate: AnyObject {
    /// The final response head (interim 1xx answers other than `101` are not passed on).
    /// Returns whether the body should come without its chunk framing.
    func upstreamResponseHead(_ head: ResponseHead) -> Bool
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

/// The last handler of an upstream connection: cuts the backend's bytes into responses, hands
/// them to its delegate, and holds back reads while the client cannot take more (back-pressure).
/// Requests are written to the channel as bytes the proxy already framed.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    weak var delegate: UpstreamDelegate?
    /// How the idle timeout reads in an error ("60s").
    let timeoutDescription: String
    private var readsPaused = false
    private var readPending = false
    private var context: ChannelHandlerContext?
    private var reader = MessageReader(firstLineLimit: 64 * 1024, headLimit: 64 * 1024)
    private var requestIsHEAD = false
    /// False once the backend sent bytes past the end of a response: the connection's framing
    /// can no longer be trusted, so it is not reused.
    private(set) var isReusable = true

    init(timeoutDescription: String) {
        self.timeoutDescription = timeoutDescription
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Prepares for the response to a new request; a response to HEAD has no body.
    func beginExchange(delegate: UpstreamDelegate, requestIsHEAD: Bool) {
        self.delegate = delegate
        self.requestIsHEAD = requestIsHEAD
    }

    /// Bytes the backend sent after the response that switched protocols: the tunnel's first.
    func takeBuffered() -> ByteBuffer? { reader.takeBuffered() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard delegate != nil else {
            // Bytes on an idle pooled connection: the backend is confused; do not reuse it.
            isReusable = false
            context.close(promise: nil)
            return
        }
        reader.append(unwrapInboundIn(data))
        do {
            while let delegate, let event = try reader.next() {
                switch event {
                case .head(let bytes):
                    let head = try ResponseHead.parse(bytes, requestWasHEAD: requestIsHEAD)
                    if head.status < 200 && head.status != 101 {
                        // Interim answers (100, 103) are ours to drop: the proxy took the body itself.
                        reader.beginBody(.none, maximumTrailerBytes: 0)
                        continue
                    }
                    let payloadOnly = delegate.upstreamResponseHead(head)
                    reader.beginBody(head.framing, maximumTrailerBytes: 64 * 1024, payloadOnly: payloadOnly)
                case .body(let body):
                    delegate.upstreamResponseBody(body)
                case .end:
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

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Nothing moved either way for the whole timeout: a stuck exchange fails, an idle pooled
        // connection is retired.
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        delegate?.upstreamFailed(UpstreamError(kind: .timeout, description: "backend sent nothing for \(timeoutDescription)"))
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
