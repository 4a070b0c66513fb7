import LBText
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener, off the traffic port (`--admin HOST:PORT`): `GET /status` answers a
/// `StatusReport` built on demand, `GET /` the same as an HTML page, `GET /metrics` the
/// Prometheus text. Everything it reads is atomics, short locks, `/proc` and a file's size, never
/// the database; the answer is built on the thread pool.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let report: @Sendable () -> StatusReport
    private let metrics: @Sendable () -> [UInt8]
    private let threadPool: NIOThreadPool

    init(report: @escaping @Sendable () -> StatusReport, metrics: @escaping @Sendable () -> [UInt8],
         threadPool: NIOThreadPool = .singleton) {
        self.report = report
        self.metrics = metrics
        self.threadPool = threadPool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let answer: @Sendable () -> (HTTPResponseStatus, String, [UInt8])
        switch (request.method, path) {
        case (.GET, "/status"), (.HEAD, "/status"):
            answer = { [report] in (.ok, "application/json", Array(report().json().utf8)) }
        case (.GET, "/"), (.HEAD, "/"):
            answer = { [report] in (.ok, "text/html; charset=utf-8", Array(report().html().utf8)) }
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            // The content type Prometheus asks for as its text exposition format 0.0.4.
            answer = { [metrics] in (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics()) }
        case (_, "/status"), (_, "/metrics"), (_, "/"):
            answer = { (.methodNotAllowed, "text/plain; charset=utf-8", Array("405 Method Not Allowed\n".utf8)) }
        default:
            answer = { (.notFound, "text/plain; charset=utf-8", Array("404 Not Found: try /, /status or /metrics\n".utf8)) }
        }
        // Building an answer reads files (`/proc`, the WAL's size): on the thread pool, never on
        // the event loop. The pipeline handler holds a pipelined request back until this one's end.
        threadPool.runIfActive(eventLoop: context.eventLoop, answer).assumeIsolated().whenComplete { result in
            let (status, type, bytes) = (try? result.get())
                ?? (.serviceUnavailable, "text/plain; charset=utf-8", Array("503 Service Unavailable: stopping\n".utf8))
            self.respond(to: request, status: status, type: type, body: context.channel.allocator.buffer(bytes: bytes),
                         context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, status: HTTPResponseStatus, type: String, body: ByteBuffer,
                         context: ChannelHandlerContext) {
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
