import NIOCore
import NIOHTTP1

/// Answers a request NIO's decoder refused (smuggling-shaped framing, bad bytes, an oversized
/// head) with the status RFC 9110 gives it, then lets the decoder close the connection. The
/// request never reaches a backend.
///
/// Takes the place of NIO's `HTTPServerProtocolErrorHandler`, which answers 400 to everything.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false
    private let metrics: DaemonMetrics

    init(metrics: DaemonMetrics) {
        self.metrics = metrics
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // The decoder closes the channel right after this returns; only a response that has not
        // started can still be sent.
        if !responseInProgress {
            let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
            metrics.countResponse(status: Int(status.code))
            let body = "\(status.code) \(status.reasonPhrase)\n"
            let headers = HTTPHeaders([("Connection", "close"), ("Content-Length", String(body.utf8.count)),
                                       ("Content-Type", "text/plain; charset=utf-8")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responseInProgress = true
        case .end: responseInProgress = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
