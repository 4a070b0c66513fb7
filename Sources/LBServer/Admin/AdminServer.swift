import LBText
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener, off the traffic port (`--admin HOST:PORT`): `GET /status` answers a
/// `StatusReport` built on demand, `GET /` the same as an HTML page, `GET /metrics` the
/// Prometheus text. Everything it reads is
/// atomics or a short lock, so it never waits on the database.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let report: @Sendable () -> StatusReport
    private let metrics: @Sendable () -> [UInt8]

    init(report: @escaping @Sendable () -> StatusReport, metrics: @escaping @Sendable () -> [UInt8]) {
        self.report = report
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let (status, type, body): (HTTPResponseStatus, String, ByteBuffer)
        let allocator = context.channel.allocator
        switch (request.method, path) {
        case (.GET, "/status"), (.HEAD, "/status"):
            (status, type, body) = (.ok, "application/json", allocator.buffer(string: report().json()))
        case (.GET, "/"), (.HEAD, "/"):
            (status, type, body) = (.ok, "text/html; charset=utf-8", allocator.buffer(string: report().html()))
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            // The content type Prometheus asks for as its text exposition format 0.0.4.
            (status, type, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", allocator.buffer(bytes: metrics()))
        case (_, "/status"), (_, "/metrics"), (_, "/"):
            (status, type, body) = (.methodNotAllowed, "text/plain; charset=utf-8",
                                    allocator.buffer(string: "405 Method Not Allowed\n"))
        default:
            (status, type, body) = (.notFound, "text/plain; charset=utf-8",
                                    allocator.buffer(string: "404 Not Found: try /, /status or /metrics\n"))
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "cache-control", value: "no-store")
        if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                      promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let keepAlive = request.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// Binds the admin listener on `host:port`.
    static func serve(on socket: ListeningSocket, group: EventLoopGroup,
                      metrics: @escaping @Sendable () -> [UInt8],
                      report: @escaping @Sendable () -> StatusReport) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(report: report, metrics: metrics))
                }
            }
            .withBoundSocket(socket.descriptor).get()
    }
}
