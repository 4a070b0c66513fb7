import LBStore
import NIOCore
import NIOSSL

/// Forwards each request of one client connection to a backend chosen by the balancer, with the
/// seed's retry rules, and streams both bodies with back-pressure.
///
/// The only handler of a client connection: it cuts the client's bytes into requests itself
/// (`MessageReader`, `RequestHead`), forwards heads with a minimal rewrite and bodies as they
/// arrived, and serves one request at a time; pipelined requests wait in the reader's buffer.
/// The connection's phases are `ProxyConnectionState`'s, what follows a failed try is
/// `RetryPolicy`'s, the answer's writes are `ResponseRelay`'s; this handler performs what they
/// decide. Every call happens on the connection's event loop.
///
/// The handler is cut by concern into this file (the client's side), `+Tries`, `+Upstream` and
/// `+LocalAnswers`; its state is internal only so that those extensions reach it.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The balancer, pools, sink and settings; replaced by a reload between requests
    /// (`followReload`).
    var shared: ProxyContext
    /// The contexts a reload replaces; nil when the context is fixed.
    let live: LiveProxyContext?
    /// This event loop's current context in `live`, found when the handler is added.
    var liveCurrent: LiveProxyContext.Current?
    /// The generation of `liveCurrent` that `shared` is; none yet.
    var contextGeneration = -1
    var pool: UpstreamPool?
    /// This event loop's response counts and request durations.
    var stats: RequestStats?
    var context: ChannelHandlerContext?
    var clientAddress = "unknown"
    /// The TLS version the client's connection negotiated (`TLSv1.3`); nil for plain HTTP.
    let tlsVersion: String?
    /// The client speaks HTTP/2 and this handler serves one of its streams.
    let overHTTP2: Bool
    var exchange: Exchange?
    var reader: MessageReader
    var deadline: ConnectionDeadline?
    var headTimeout: TimeAmount
    var idleTimeout: TimeAmount?
    /// How far the request in progress and its answer have come.
    var state = ProxyConnectionState()
    var retryPolicy: RetryPolicy
    var relay = ResponseRelay()
    /// The client's reads are held back (back-pressure) and one is owed when they resume.
    var readPending = false
    /// When the client read being handled began.
    var readStartedAt = NIODeadline.now()
    /// Body bytes were written to the backend and wait for a flush at the end of this read.
    var upstreamFlushPending = false
    /// Bumped whenever a try ends, so late callbacks of an abandoned try are ignored.
    var generation = 0

    /// On an HTTP/2 stream, until the end of its first read: the stream's head usually comes in
    /// that read, and the head deadline is armed only if it did not.
    private var headDeadlineDeferred: Bool

    /// On a plain listener's connection, until its first read: whether it may turn out to be
    /// HTTP/2 with prior knowledge (h2c), which its first bytes, the connection preface, say.
    private var awaitingPreface: Bool

    /// `clientAddress`: the client's, when the caller knows it already (each stream of an HTTP/2
    /// connection gets its connection's, read once). `live`: the contexts a reload replaces; the
    /// handler takes its loop's current one (with its timeouts) when added, and follows it from
    /// request to request; nil keeps `shared` for good.
    init(shared: ProxyContext, following live: LiveProxyContext? = nil, headTimeout: TimeAmount,
         idleTimeout: TimeAmount?, acceptsPriorKnowledgeHTTP2: Bool = false,
         tlsVersion: String? = nil, overHTTP2: Bool = false, clientAddress: String? = nil) {
        self.shared = shared
        self.live = live
        self.tlsVersion = tlsVersion
        self.overHTTP2 = overHTTP2
        headDeadlineDeferred = overHTTP2
        if let clientAddress { self.clientAddress = clientAddress }
        awaitingPreface = acceptsPriorKnowledgeHTTP2
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        let settings = shared.settings
        retryPolicy = RetryPolicy(retriesPerBackend: settings.retriesPerBackend, maximumAttempts: settings.maximumAttempts)
        // The request line may carry a method and version around the target; the head as a
        // whole is bounded by both limits together.
        reader = MessageReader(firstLineLimit: settings.maxRequestLineBytes + 64,
                               headLimit: settings.maxRequestLineBytes + settings.maxHeaderBytes + 1_024)
    }

    var settings: ProxySettings { shared.settings }

    /// Takes the loop's context if a reload replaced it since this connection last looked, with
    /// the limits, timeouts and retry rules it holds. Called only between requests (a request in
    /// progress finishes under the settings it began with): one integer compared.
    func followReload() {
        guard let live = liveCurrent, live.generation != contextGeneration else { return }
        contextGeneration = live.generation
        shared = live.context
        let settings = live.context.settings
        retryPolicy = RetryPolicy(retriesPerBackend: settings.retriesPerBackend, maximumAttempts: settings.maximumAttempts)
        reader.setLimits(firstLineLimit: settings.maxRequestLineBytes + 64,
                         headLimit: settings.maxRequestLineBytes + settings.maxHeaderBytes + 1_024)
        headTimeout = settings.headerTimeout
        // An HTTP/2 stream has none: its connection's idle time is the HTTP/2 handler's.
        if idleTimeout != nil { idleTimeout = settings.clientIdleTimeout }
        deadline?.update(headTimeout: headTimeout, bodyTimeout: settings.bodyTimeout, idleTimeout: idleTimeout)
    }

    var limits: RequestHead.Limits {
        RequestHead.Limits(targetBytes: settings.maxRequestLineBytes, fieldBytes: settings.maxHeaderBytes,
                           fields: settings.maxHeaders)
    }

    // MARK: Client side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        liveCurrent = live?.current(on: context.eventLoop)
        followReload()
        pool = shared.pools.pool(for: context.eventLoop)
        stats = shared.sink.metrics.requestStats(for: context.eventLoop)
        if clientAddress == "unknown", let address = context.channel.remoteAddress?.ipAddress { clientAddress = address }
        let deadline = ConnectionDeadline(headTimeout: headTimeout, bodyTimeout: settings.bodyTimeout,
                                          idleTimeout: idleTimeout, eventLoop: context.eventLoop) { [self] phase in
            // A strong capture (no weak reference, see UpstreamHandler.delegate); the cycle it
            // makes is broken in handlerRemoved.
            deadlinePassed(phase)
        }
        self.deadline = deadline
        if context.channel.isActive && !headDeadlineDeferred { deadline.awaitHead(now: .now()) }
    }

    /// The first line of HTTP/2's connection preface (RFC 9113 §3.4).
    static let prefaceLine = Array("PRI * HTTP/2.0\r\n".utf8)
    /// How long an idle connection stays open once the server stops accepting (shutdown or
    /// handover), for a request already on its way: about a round trip's worth, many times over.
    static let shutdownLinger: TimeAmount = .milliseconds(500)

    /// The connection speaks HTTP/2 with prior knowledge: this handler leaves, the HTTP/2
    /// pipeline takes its place and reads the bytes from the preface on.
    private func switchToHTTP2(context: ChannelHandlerContext, firstBytes: ByteBuffer) {
        let channel = context.channel
        do {
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            try HTTP2Pipeline.configure(channel, context: shared, following: live, headerTimeout: headTimeout,
                                        idleTimeout: idleTimeout, tlsVersion: nil)
            channel.pipeline.fireChannelRead(firstBytes)
            channel.pipeline.fireChannelReadComplete()
        } catch {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abortExchange()
        deadline?.cancel()
        deadline = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if !headDeadlineDeferred { deadline?.awaitHead(now: .now()) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !state.isClosing else { return }
        if awaitingPreface {
            awaitingPreface = false
            let bytes = unwrapInboundIn(data)
            if bytes.readableBytesView.starts(with: Self.prefaceLine) {
                switchToHTTP2(context: context, firstBytes: bytes)
                return
            }
        }
        // One clock read per read serves the head deadline, the request's start and the pool.
        readStartedAt = .now()
        if exchange == nil, reader.isIdle, deadline?.phase == .idle { deadline?.awaitHead(now: readStartedAt) }
        reader.append(unwrapInboundIn(data))
        processRequests(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if headDeadlineDeferred {
            headDeadlineDeferred = false
            if exchange == nil && !state.isClosing { deadline?.awaitHead(now: readStartedAt) }
        }
        if upstreamFlushPending {
            upstreamFlushPending = false
            exchange?.upstream?.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client left: stop the exchange without holding it against the backend.
        state.connectionLost()
        abortExchange()
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.handler.resumeReads() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch state.quiesce() {
        case .lingerThenClose:
            let linger = min(idleTimeout ?? Self.shutdownLinger, Self.shutdownLinger)
            context.eventLoop.assumeIsolated().scheduleTask(in: linger) { [self] in
                if state.lingerEnded() { self.context?.close(promise: nil) }
            }
        case .closeAfterThisRequest, .none:
            // The answer in progress says `Connection: close` if it has not begun.
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        state.connectionLost()
        abortExchange()
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if mustPauseClientReads() {
            readPending = true
            return
        }
        context.read()
    }

    func mustPauseClientReads() -> Bool {
        guard let exchange, let serving = state.serving else { return false }
        if serving.request == .ended {
            // Bytes of the next request wait in the reader; do not pile up more than a head's worth.
            return reader.bufferedBytes >= settings.maxRequestLineBytes + settings.maxHeaderBytes
        }
        switch serving.response {
        case .localAnswerPending, .complete:
            // The rest of the body is read and dropped.
            return false
        case .awaiting, .relaying, .switchingProtocols:
            if let upstream = exchange.upstream { return !upstream.isWritable }
            return exchange.unsentBytes >= settings.replayBufferBytes
        }
    }

    func resumeClientReads() {
        guard readPending, let context, !mustPauseClientReads() else { return }
        readPending = false
        context.read()
    }

    /// Takes events out of the reader while the request in progress (if any) can use them.
    func processRequests(context: ChannelHandlerContext) {
        if exchange == nil { followReload() }
        do {
            while !state.isClosing {
                if state.requestHasEnded { return }
                guard let event = try reader.next() else { return }
                switch event {
                case .head(let bytes):
                    deadline?.becomeBusy()
                    let head: RequestHead
                    do {
                        head = try RequestHead.parse(bytes, limits: limits)
                    } catch {
                        refuse(error, context: context, requestWasHEAD: HeadSyntax.isHEADRequest(bytes))
                        return
                    }
                    // A chunked body is read as payload and re-chunked by us on the way out.
                    reader.beginBody(head.framing, maximumTrailerBytes: settings.maxHeaderBytes,
                                     payloadOnly: head.framing == .chunked)
                    startRequest(head, context: context)
                    if head.framing != .none && head.framing != .length(0) { deadline?.awaitBody(now: readStartedAt) }
                case .body(let part):
                    deadline?.bodyArrived(now: readStartedAt)
                    receiveBody(part)
                case .end:
                    if deadline?.phase == .awaitingBody { deadline?.becomeBusy() }
                    endRequest()
                }
            }
        } catch {
            refuse(error, context: context,
                   requestWasHEAD: exchange?.head.isHEAD ?? reader.buffered(HeadSyntax.isHEADRequest))
        }
    }

    func startRequest(_ head: RequestHead, context: ChannelHandlerContext) {
        let requestID = head.clientRequestID.flatMap { RequestID.isSane($0) ? $0 : nil } ?? RequestID.make()
        let balancingKey = shared.hashKey?.key(for: head, clientAddress: clientAddress)
        state.requestHeadArrived(keepAlive: head.keepAlive)
        guard let backend = shared.balancer.nextBackend(for: balancingKey) else {
            // Off the hot path: only a request that found nothing looks at why.
            let allAtLimit = shared.balancer.current.backends.contains {
                $0.isAlive && $0.adminState == .enabled && !$0.hasRoom
            }
            shared.sink.noBackendAvailable(allAtLimit: allAtLimit)
            shared.sink.rejected(status: 503, requestID: requestID, backend: nil, reason: "no backend available",
                                 clientAddress: clientAddress)
            let placeholder = Exchange(head: head, requestID: requestID, backend: Self.noBackend, startedAt: readStartedAt)
            exchange = placeholder
            respondLocally(placeholder, LocalAnswer(status: 503, message: "no backend available"))
            return
        }
        let exchange = Exchange(head: head, requestID: requestID, backend: backend, startedAt: readStartedAt)
        exchange.balancingKey = balancingKey
        exchange.upgrade = head.upgrade.flatMap { UpgradePolicy.permitted($0, allowed: settings.upgradeProtocols) }
        self.exchange = exchange
        // We take the body ourselves; the backend sees no Expect header.
        if head.expectsContinue {
            stats?.countResponse(status: 100)
            context.writeAndFlush(wrapOutboundOut(Self.continueResponse), promise: nil)
        }
        startTry(exchange)
    }

    private static let continueResponse = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")

    func receiveBody(_ part: ByteBuffer) {
        guard let exchange, state.requestBodyArrived() == .forward else { return }
        if exchange.replay != nil {
            if exchange.replayBytes + part.readableBytes <= settings.replayBufferBytes {
                exchange.replay!.append(part)
                exchange.replayBytes += part.readableBytes
            } else {
                exchange.replay = nil
                exchange.replayBytes = 0
            }
        }
        if let upstream = exchange.upstream {
            writeBody(part, of: exchange, to: upstream)
            upstreamFlushPending = true
        } else {
            exchange.unsent.append(part)
            exchange.unsentBytes += part.readableBytes
        }
    }

    func endRequest() {
        guard let exchange else { return }
        if exchange.isChunked { exchange.forwardedTrailers = ChunkedRequestBody.forwardedTrailers(reader.trailers) }
        switch state.requestEnded() {
        case .endUpstreamRequest:
            guard let upstream = exchange.upstream else { return }
            if exchange.isChunked { writeLastChunk(of: exchange, to: upstream) }
            upstream.flush()
        case .sendLocalAnswer(let answer, let close):
            writeLocalResponse(exchange, answer, close: close)
        case .exchangeComplete:
            // The answer went out before the request finished arriving; now it has.
            finishExchange(exchange, now: readStartedAt)
        case .closeConnection:
            self.exchange = nil
            context?.close(promise: nil)
        }
    }

    // MARK: The exchange's end

    /// Hands the answered request to the access log, if there is one; the line is formatted and
    /// written on the log's own thread.
    func logAccess(_ exchange: Exchange) {
        guard let accessLog = shared.accessLog else { return }
        let backend = exchange.backend === Self.noBackend ? nil : exchange.backend.url.text
        accessLog.record(AccessLog.Entry(
            at: .now(), client: clientAddress, method: exchange.head.method, path: exchange.head.target,
            status: exchange.responseStatus, bytes: exchange.responseBytes,
            durationNanoseconds: NIODeadline.now().uptimeNanoseconds &- exchange.startedAt.uptimeNanoseconds,
            backend: backend, requestID: exchange.requestID, tls: tlsVersion, proto: clientProtocol(exchange)))
    }

    /// The protocol the client's request came in: `HTTP/2`, `HTTP/1.1` or `HTTP/1.0`.
    func clientProtocol(_ exchange: Exchange) -> String {
        overHTTP2 ? "HTTP/2" : exchange.head.minorVersion == 0 ? "HTTP/1.0" : "HTTP/1.1"
    }

    /// How the client's request came, for the events of its tries: `HTTP/2 over TLSv1.3`, `HTTP/1.1`.
    func clientVia(_ exchange: Exchange) -> String {
        tlsVersion.map { "\(clientProtocol(exchange)) over \($0)" } ?? clientProtocol(exchange)
    }

    /// The TLS version a connection negotiated, as the access log writes it; nil without TLS.
    static func negotiatedTLSVersion(of channel: Channel) -> String? {
        (try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))?.tlsVersion.map(name(of:))
    }

    /// A TLS version as the access log writes it.
    static func name(of version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }

    /// The request and its answer are both complete: the next pipelined request, if one is
    /// buffered, goes next; otherwise the connection is idle.
    func finishExchange(_ exchange: Exchange, now: NIODeadline) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        guard !state.isClosing, let context else { return }
        // Before the idle deadline is set: a reload's idle timeout counts from this request on.
        followReload()
        if reader.isIdle {
            deadline?.becomeIdle(now: now)
        } else {
            deadline?.awaitHead(now: now)
            processRequests(context: context)
        }
        resumeClientReads()
    }

    func abortExchange() {
        relay.discard()
        guard let exchange else { return }
        self.exchange = nil
        exchange.upstream?.abandon()
        exchange.upstream = nil
        endTry(exchange)
    }

    /// Stands in for a backend where none was chosen (an immediate 503). The URL is a constant
    /// that always parses, so the `try!` cannot trap.
    private static let noBackend = BackendRuntime(
        id: 0, url: try! BackendURL(parsing: "http://0.0.0.0:1"), slot: Int.max, health: .down, weight: 0,
        adminState: .disabled)
}
