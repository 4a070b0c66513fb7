import LBStore
import NIOCore
import NIOHTTP1
import NIOPosix

/// One health check of one backend: a TCP connect, or an HTTP GET that must answer 2xx.
enum HealthProbe {
    /// What a check found.
    struct Outcome: Sendable {
        var passed: Bool
        var latencyMilliseconds: Double
        var error: String?
    }

    /// For an `https://` backend (with `tls`), a TCP check completes the TLS handshake, and an
    /// HTTP check speaks HTTPS.
    static func run(_ probe: HealthSettings.Probe, against backend: BackendRuntime, timeout: TimeAmount,
                    tls: BackendTLS? = nil, on eventLoop: EventLoop) -> EventLoopFuture<Outcome> {
        let started = NIODeadline.now()
        let promise = eventLoop.makePromise(of: Outcome.self)
        let elapsed: @Sendable () -> Double = { Double((NIODeadline.now() - started).nanoseconds) / 1_000_000 }
        let bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(timeout)
        let connected: EventLoopFuture<Channel>
        switch probe {
        case .tcp:
            connected = backend.open(with: bootstrap, on: eventLoop, tls: tls, handshakeTimeout: timeout) { _ in }
            connected.whenComplete { result in
                switch result {
                case .success(let channel):
                    channel.close(promise: nil)
                    promise.succeed(Outcome(passed: true, latencyMilliseconds: elapsed()))
                case .failure(let error):
                    promise.succeed(Outcome(passed: false, latencyMilliseconds: elapsed(),
                                            error: describe(error, timeout: timeout)))
                }
            }
        case .http(let path):
            let answer = eventLoop.makePromise(of: HTTPResponseStatus.self)
            connected = backend.open(with: bootstrap, on: eventLoop, tls: tls, handshakeTimeout: timeout) { channel in
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(StatusCatcher(promise: answer))
            }
            let deadline = eventLoop.scheduleTask(in: timeout) {
                answer.fail(ProbeTimeout())
            }
            connected.whenComplete { result in
                switch result {
                case .success(let channel):
                    var headers = HTTPHeaders()
                    headers.add(name: "host", value: backend.url.hostHeader)
                    headers.add(name: "user-agent", value: "lbserver-health-check")
                    headers.add(name: "connection", value: "close")
                    let uri = backend.url.pathPrefix + path
                    channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET,
                                                                             uri: uri, headers: headers)),
                                  promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    answer.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    answer.fail(error)
                }
            }
            answer.futureResult.whenComplete { result in
                deadline.cancel()
                switch result {
                case .success(let status) where (200..<300).contains(Int(status.code)):
                    promise.succeed(Outcome(passed: true, latencyMilliseconds: elapsed()))
                case .success(let status):
                    promise.succeed(Outcome(passed: false, latencyMilliseconds: elapsed(),
                                            error: "HTTP \(status.code) from \(path)"))
                case .failure(let error):
                    promise.succeed(Outcome(passed: false, latencyMilliseconds: elapsed(),
                                            error: describe(error, timeout: timeout)))
                }
            }
        }
        return promise.futureResult
    }

    /// A short description an operator reads in `lbctl history` ("connection refused").
    static func describe(_ error: Error, timeout: TimeAmount) -> String {
        if error is ProbeTimeout { return "timed out after \(timeout.humanDescription)" }
        return NetworkErrorDescription.describe(error, timeout: timeout)
    }

    private struct ProbeTimeout: Error {}

    /// Completes its promise with the status of the first final response head.
    private final class StatusCatcher: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let promise: EventLoopPromise<HTTPResponseStatus>

        init(promise: EventLoopPromise<HTTPResponseStatus>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data), head.status.code >= 200 {
                promise.succeed(head.status)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
