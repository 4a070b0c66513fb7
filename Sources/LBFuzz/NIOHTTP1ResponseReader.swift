#if LB_FUZZ || DEBUG
@testable import LBServer
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// NIOHTTP1's reading of the bytes a client received as responses (`HTTPResponseDecoder`, told
/// each request's method so it knows which answers have no body), interim answers included.
///
/// Single-threaded: use it on the thread that made it (it drives an `EmbeddedChannel`).
final class NIOHTTP1ResponseReader {
    /// One final response and the interim (1xx) answers that came before it.
    struct Response {
        var interim: [HTTPResponseHead]
        var head: HTTPResponseHead
        var body: [UInt8]
    }

    private let collector = Collector()
    private let channel: EmbeddedChannel

    init() {
        channel = EmbeddedChannel(handlers: [
            HTTPRequestEncoder(),
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)),
            collector,
        ])
    }

    deinit { _ = try? channel.finish(acceptAlreadyClosed: true) }

    /// The responses read whole so far, in order.
    var responses: [Response] { collector.complete }
    /// Why NIOHTTP1 stopped reading, if it refused the bytes.
    var error: Error? { collector.error }
    /// A response head was read and its end was not.
    var hasPartialResponse: Bool { collector.partial != nil }

    /// Says that a request with `method` was sent; answers are matched to requests in order.
    func expectAnswer(to method: HTTPMethod) {
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/")
        _ = try? channel.writeOutbound(HTTPClientRequestPart.head(head))
        _ = try? channel.writeOutbound(HTTPClientRequestPart.end(nil))
        while (try? channel.readOutbound(as: IOData.self)) ?? nil != nil {}
    }

    func feed(_ bytes: ByteBuffer) {
        guard collector.error == nil else { return }
        _ = try? channel.writeInbound(bytes)
    }

    /// The connection closed: a response delimited by the close ends here.
    func feedClose() {
        guard collector.error == nil else { return }
        channel.pipeline.fireChannelInactive()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart

        var complete: [Response] = []
        var interim: [HTTPResponseHead] = []
        var partial: Response?
        var error: Error?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head) where head.status.code >= 100 && head.status.code < 200 && head.status.code != 101:
                interim.append(head)
            case .head(let head):
                partial = Response(interim: interim, head: head, body: [])
                interim = []
            case .body(let bytes):
                partial?.body += bytes.readableBytesView
            case .end:
                guard let response = partial else { return }
                complete.append(response)
                partial = nil
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if self.error == nil { self.error = error }
        }
    }
}
#endif
