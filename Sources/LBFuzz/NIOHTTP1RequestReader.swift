#if LB_FUZZ || DEBUG
@testable import LBServer
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// NIOHTTP1's reading of a byte stream as requests (`HTTPRequestDecoder`, fed as the bytes come):
/// the relay oracle's reference for what a client sent and what a backend received.
///
/// Single-threaded: use it on the thread that made it (it drives an `EmbeddedChannel`).
final class NIOHTTP1RequestReader {
    /// One complete request as NIOHTTP1 read it.
    struct Request {
        var head: HTTPRequestHead
        var body: [UInt8]
        var trailers: HTTPHeaders?

        /// llhttp stops reading a stream after a request that upgrades (`Connection: upgrade`
        /// with `Upgrade`) or after CONNECT; the bytes after it are another protocol's.
        var stopsTheStream: Bool {
            head.method == .CONNECT || (!head.headers["upgrade"].isEmpty
                && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" })
        }

        var summary: String { "\(head.method.rawValue) \(head.uri) body-bytes=\(body.count)" }
    }

    private let collector = Collector()
    private let channel: EmbeddedChannel

    init() {
        channel = EmbeddedChannel(handlers: [ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)),
                                             collector])
    }

    deinit { _ = try? channel.finish(acceptAlreadyClosed: true) }

    /// The requests read whole so far, in order.
    var requests: [Request] { collector.complete }
    /// Why NIOHTTP1 stopped reading, if it refused the bytes.
    var error: Error? { collector.error }
    /// A request's head was read and its end was not.
    var hasPartialRequest: Bool { collector.partial != nil }
    /// The request whose head was read and whose end was not, with the body read so far.
    var partialRequest: Request? { collector.partial }

    func feed(_ bytes: ByteBuffer) {
        guard collector.error == nil else { return }
        _ = try? channel.writeInbound(bytes)
    }

    func feed(_ bytes: [UInt8]) { feed(ByteBuffer(bytes: bytes)) }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart

        var complete: [Request] = []
        var partial: Request?
        var error: Error?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                partial = Request(head: head, body: [], trailers: nil)
            case .body(let bytes):
                partial?.body += bytes.readableBytesView
            case .end(let trailers):
                guard var request = partial else { return }
                request.trailers = trailers
                complete.append(request)
                partial = nil
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if self.error == nil { self.error = error }
        }
    }
}
#endif
