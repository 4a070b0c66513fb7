import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A real HTTP backend on 127.0.0.1 with an OS-chosen port, whose behaviour a test sets.
///
/// It answers 200 with its name as the body and echoes what it saw in `x-seen-*` headers, so a
/// test can tell which backend served a request and what the proxy sent.
final class TestBackend: @unchecked Sendable {
    // @unchecked Sendable: mutable state is guarded by `lock`; NIO objects are thread-safe.

    enum Behaviour: Sendable {
        /// Answer every request, after `delay`.
        case serve(delay: TimeAmount)
        /// Close the first `count` connections once their request has fully arrived, then serve.
        case resetFirst(Int)
        /// Accept the request and never answer.
        case hang
        /// Send the head and part of a larger body, then close the connection.
        case dieMidBody
        /// Answer with bytes that are not HTTP.
        case garbage
        /// Send a `103 Early Hints` interim response before each normal answer.
        case earlyHints
        /// Answer `chunked-body` in two chunks (`Transfer-Encoding: chunked`).
        case chunkedAnswer
        /// Answer `until-close` with no framing at all, then close the connection.
        case closeDelimitedAnswer
        /// Close the connection without answering a request whose target contains the text (a
        /// request that crashes the backend); serve the others.
        case closeWhenTargetContains(String)
        /// Answer every request with exactly these bytes.
        case raw(String)
    }

    let name: String
    let group: EventLoopGroup
    private let lock = NIOLock()
    private var behaviour: Behaviour
    private var resetsLeft = 0
    private var serverChannel: Channel?
    private var children: [Channel] = []
    private(set) var port: Int = 0
    /// When set, answers carry this many bytes of a repeating pattern instead of the name.
    let responseBodyBytes: Int?
    private var _requests = 0
    private var _bodies: [Int] = []

    /// With a TLS context the backend speaks HTTPS (`url` says `https://localhost:PORT`).
    let tls: NIOSSLContext?

    init(name: String, behaviour: Behaviour = .serve(delay: .zero), group: EventLoopGroup, port: Int = 0,
         responseBodyBytes: Int? = nil, tls: NIOSSLContext? = nil) throws {
        self.name = name
        self.tls = tls
        self.responseBodyBytes = responseBodyBytes
        self.group = group
        self.behaviour = behaviour
        if case .resetFirst(let count) = behaviour { resetsLeft = count }
        try start(port: port)
    }

    var url: String { tls == nil ? "http://127.0.0.1:\(port)" : "https://localhost:\(port)" }
    var currentBehaviour: Behaviour { lock.withLock { behaviour } }
    /// Requests that reached the handler (including those it reset).
    var requests: Int { lock.withLock { _requests } }
    /// Body sizes of the requests answered.
    var bodySizes: [Int] { lock.withLock { _bodies } }
    /// Connections accepted since the backend (re)started listening.
    var connections: Int { lock.withLock { children.count } }

    private func start(port: Int) throws {
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                lock.withLock { children.append(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    // The decoder sits first so that writes from its context reach the socket raw.
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()), name: "raw")
                    try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
                    // Answers written raw never pass the pipelining handler, which would then hold
                    // back the connection's next request for ever.
                    switch currentBehaviour {
                    case .chunkedAnswer, .closeDelimitedAnswer, .raw: break
                    default: try channel.pipeline.syncOperations.addHandler(HTTPServerPipelineHandler())
                    }
                    try channel.pipeline.syncOperations.addHandler(Handler(backend: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        serverChannel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// Stops listening and closes every connection, as a crashed backend would.
    func stop() {
        let (server, open) = lock.withLock { () -> (Channel?, [Channel]) in
            let result = (serverChannel, children)
            serverChannel = nil
            children = []
            return result
        }
        try? server?.close().wait()
        for channel in open { try? channel.close().wait() }
    }

    /// Changes what the backend does from the next request on (a new connection for `raw` and
    /// the answers written raw, whose pipeline differs).
    func setBehaviour(_ new: Behaviour) {
        lock.withLock {
            behaviour = new
            if case .resetFirst(let count) = new { resetsLeft = count }
        }
    }

    /// Listens again on the same port.
    func restart() throws {
        try start(port: port)
    }

    private func nextAction() -> (reset: Bool, delay: TimeAmount?, hang: Bool) {
        lock.withLock {
            _requests += 1
            switch behaviour {
            case .serve(let delay): return (false, delay, false)
            case .closeWhenTargetContains: return (false, .zero, false)
            case .raw: return (false, nil, true)
            case .earlyHints: return (false, .zero, false)
            case .chunkedAnswer, .closeDelimitedAnswer: return (false, nil, true)
            case .hang, .dieMidBody, .garbage: return (false, nil, true)
            case .resetFirst:
                if resetsLeft > 0 {
                    resetsLeft -= 1
                    return (true, nil, false)
                }
                return (false, .zero, false)
            }
        }
    }

    private func recordBody(_ size: Int) { lock.withLock { _bodies.append(size) } }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let backend: TestBackend
        var head: HTTPRequestHead?
        var bodyBytes = 0

        init(backend: TestBackend) { self.backend = backend }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                bodyBytes = 0
            case .body(let buffer):
                bodyBytes += buffer.readableBytes
            case .end:
                guard let head else { return }
                if case .closeWhenTargetContains(let text) = backend.currentBehaviour, head.uri.contains(text) {
                    _ = backend.nextAction()
                    context.close(promise: nil)
                    return
                }
                let action = backend.nextAction()
                if action.reset {
                    context.close(promise: nil)
                    return
                }
                switch backend.currentBehaviour {
                case .dieMidBody:
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(
                        version: .http1_1, status: .ok, headers: ["content-length": "100000"]))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(
                        string: String(repeating: "x", count: 1_000)))))).whenComplete { [channel = context.channel] _ in
                        channel.close(promise: nil)
                    }
                    return
                case .garbage:
                    // Below the HTTP encoder: raw bytes straight onto the socket.
                    if let raw = try? context.pipeline.syncOperations.context(name: "raw") {
                        raw.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: "THIS IS NOT HTTP\r\n\r\n")),
                                          promise: nil)
                    }
                    return
                case .chunkedAnswer, .closeDelimitedAnswer:
                    backend.recordBody(bodyBytes)
                    guard let raw = try? context.pipeline.syncOperations.context(name: "raw") else { return }
                    let chunked = if case .chunkedAnswer = backend.currentBehaviour { true } else { false }
                    let text = chunked
                        ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: \(backend.name)\r\n\r\n"
                            + "7\r\nchunked\r\n5\r\n-body\r\n0\r\n\r\n"
                        : "HTTP/1.1 200 OK\r\nX-Backend: \(backend.name)\r\n\r\nuntil-close"
                    let written = raw.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: text)))
                    if !chunked {
                        written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
                    }
                    return
                case .raw(let text):
                    backend.recordBody(bodyBytes)
                    if let raw = try? context.pipeline.syncOperations.context(name: "raw") {
                        raw.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: text)), promise: nil)
                    }
                    return
                case .earlyHints:
                    if let raw = try? context.pipeline.syncOperations.context(name: "raw") {
                        raw.writeAndFlush(NIOAny(context.channel.allocator.buffer(
                            string: "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")), promise: nil)
                    }
                default: break
                }
                if action.hang { return }
                backend.recordBody(bodyBytes)
                var headers = HTTPHeaders()
                let body = backend.name
                let payload = backend.responseBodyBytes.map(largeBody) ?? Array(body.utf8)
                headers.add(name: "content-length", value: String(payload.count))
                headers.add(name: "x-backend", value: backend.name)
                headers.add(name: "x-seen-uri", value: head.uri)
                headers.add(name: "x-seen-xff", value: head.headers["x-forwarded-for"].joined(separator: ", "))
                headers.add(name: "x-seen-proto", value: head.headers["x-forwarded-proto"].joined(separator: ", "))
                headers.add(name: "x-seen-request-id", value: head.headers.first(name: "x-request-id") ?? "")
                headers.add(name: "x-seen-body-bytes", value: String(bodyBytes))
                headers.add(name: "x-seen-host", value: head.headers.first(name: "host") ?? "")
                headers.add(name: "x-seen-cookie", value: head.headers["cookie"].joined(separator: " | "))
                headers.add(name: "x-seen-header-names", value: head.headers.map { $0.name.lowercased() }.joined(separator: ","))
                let response = HTTPResponseHead(version: head.version, status: .ok, headers: headers)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let send: @Sendable () -> Void = {
                    let context = bound.value
                    context.write(self.wrapOutboundOut(.head(response)), promise: nil)
                    // Large bodies go out in 16 KiB parts, as a real server streams them.
                    for start in stride(from: 0, to: payload.count, by: 16_384) {
                        let part = payload[start..<min(start + 16_384, payload.count)]
                        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: part)))),
                                      promise: nil)
                    }
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                }
                if let delay = action.delay, delay > .zero {
                    context.eventLoop.scheduleTask(in: delay) { send() }
                } else {
                    send()
                }
            }
        }
    }
}

/// The body a backend with `responseBodyBytes` sends: bytes `i % 251`, so a test can check
/// every byte arrived in order.
func largeBody(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8($0 % 251) }
}

/// A port on 127.0.0.1 that refuses connections: bound by the OS, then closed.
func refusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
