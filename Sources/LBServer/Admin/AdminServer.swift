import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener, off the traffic port (`--admin HOST:PORT`): `GET /status` answers a
/// `StatusReport` built on demand. Everything it reads is atomics or a short lock, so it never
/// waits on the database.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let report: @Sendable () -> StatusReport

    init(report: @escaping @Sendable () -> StatusReport) {
        self.report = report
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let (status, type, body): (HTTPResponseStatus, String, String)
        switch (request.method, path) {
        case (.GET, "/status"), (.HEAD, "/status"):
            (status, type, body) = (.ok, "application/json", report().json())
        case (_, "/status"):
            (status, type, body) = (.methodNotAllowed, "text/plain; charset=utf-8", "405 Method Not Allowed\n")
        default:
            (status, type, body) = (.notFound, "text/plain; charset=utf-8", "404 Not Found: try /status\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "cache-control", value: "no-store")
        if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                      promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = request.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// Binds the admin listener on `host:port`.
    static func bind(host: String, port: Int, group: EventLoopGroup,
                     report: @escaping @Sendable () -> StatusReport) throws -> Channel {
        try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(report: report))
                }
            }
            .bind(host: host, port: port).wait()
    }
}
