import NIOCore
import NIOHTTP1

/// Receives what an upstream connection delivers for the request it is serving.
/// All calls happen on the connection's event loop, which is also the client's.
protocol UpstreamDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
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

/// The last handler of an upstream connection: hands response parts to its delegate and holds
/// back reads while the client cannot take more (back-pressure).
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var delegate: UpstreamDelegate?
    /// How the idle timeout reads in an error ("60s").
    let timeoutDescription: String
    private var readsPaused = false
    private var readPending = false
    private var context: ChannelHandlerContext?

    init(timeoutDescription: String) {
        self.timeoutDescription = timeoutDescription
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let delegate else {
            // Bytes on an idle pooled connection: the backend is confused; do not reuse it.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head): delegate.upstreamResponseHead(head)
        case .body(let body): delegate.upstreamResponseBody(body)
        case .end: delegate.upstreamResponseEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(UpstreamError(kind: .reset, description: "connection closed by backend"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        let kind: UpstreamError.Kind = error is HTTPParserError ? .protocolViolation : .reset
        delegate?.upstreamFailed(UpstreamError(kind: kind, description: "\(error)"))
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
