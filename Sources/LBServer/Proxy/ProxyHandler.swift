import LBStore
import NIOCore
import NIOHTTP1

/// Forwards each request of one client connection to a backend chosen by the balancer, with the
/// seed's retry rules, and streams both bodies with back-pressure.
///
/// Sits after NIO's HTTP server pipeline (which orders pipelined requests), so it serves one
/// request at a time. Every call happens on the connection's event loop.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let shared: ProxyContext
    private var pool: UpstreamPool?
    private var context: ChannelHandlerContext?
    private var clientAddress = "unknown"
    private var exchange: Exchange?
    private var readPending = false
    /// Bumped whenever a try ends, so late callbacks of an abandoned try are ignored.
    private var generation = 0

    init(shared: ProxyContext) {
        self.shared = shared
    }

    private var settings: ProxySettings { shared.settings }

    // MARK: Client side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = shared.pools.pool(for: context.eventLoop)
        if let address = context.channel.remoteAddress?.ipAddress { clientAddress = address }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abortExchange()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): startRequest(head, context: context)
        case .body(let part): receiveBody(part)
        case .end(let trailers): endRequest(trailers, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client left: stop the exchange without holding it against the backend.
        abortExchange()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.handler.resumeReads() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if exchange == nil { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        abortExchange()
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if let exchange, !exchange.discarding, mustPauseClientReads(exchange) {
            readPending = true
            return
        }
        context.read()
    }

    private func mustPauseClientReads(_ exchange: Exchange) -> Bool {
        if let upstream = exchange.upstream { return !upstream.isWritable }
        return exchange.unsentBytes >= settings.replayBufferBytes
    }

    private func resumeClientReads() {
        guard readPending, let context else { return }
        if let exchange, !exchange.discarding, mustPauseClientReads(exchange) { return }
        readPending = false
        context.read()
    }

    private func startRequest(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let requestID = head.headers.first(name: "x-request-id").flatMap { RequestID.isSane($0) ? $0 : nil }
            ?? RequestID.make()
        if let (status, message) = limitExceeded(by: head) {
            // A client error: answer, close, and never bother a backend with it.
            let refused = Exchange(head: head, requestID: requestID, backend: Self.noBackend)
            refused.keepAlive = false
            exchange = refused
            respondLocally(refused, status: status, message: message)
            return
        }
        let balancingKey = shared.hashKey?.key(for: head, clientAddress: clientAddress)
        guard let backend = shared.balancer.nextBackend(for: balancingKey) else {
            // Off the hot path: only a request that found nothing looks at why.
            let allAtLimit = shared.balancer.current.backends.contains {
                $0.isAlive && $0.adminState == .enabled && !$0.hasRoom
            }
            shared.sink.noBackendAvailable(allAtLimit: allAtLimit)
            shared.sink.rejected(status: 503, requestID: requestID, backend: nil, reason: "no backend available")
            let placeholder = Exchange(head: head, requestID: requestID, backend: Self.noBackend)
            exchange = placeholder
            respondLocally(placeholder, status: .serviceUnavailable, message: "no backend available")
            return
        }
        let exchange = Exchange(head: head, requestID: requestID, backend: backend)
        exchange.balancingKey = balancingKey
        if let upgrade = head.headers.first(name: "upgrade"),
           head.headers["connection"].contains(where: { $0.lowercased().contains("upgrade") }) {
            exchange.upgrade = upgrade
        }
        self.exchange = exchange
        // We take the body ourselves; the backend sees no Expect header.
        if head.headers.contains(name: "expect"),
           head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            shared.sink.metrics.countResponse(status: 100)
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                                  promise: nil)
        }
        startTry(exchange)
    }

    /// The status and reason when a request head is larger than the configured limits allow.
    private func limitExceeded(by head: HTTPRequestHead) -> (HTTPResponseStatus, String)? {
        if head.uri.utf8.count > settings.maxRequestLineBytes {
            return (.uriTooLong, "request target longer than \(settings.maxRequestLineBytes) bytes")
        }
        if head.headers.count > settings.maxHeaders {
            return (.requestHeaderFieldsTooLarge, "more than \(settings.maxHeaders) header fields")
        }
        var bytes = 0
        for (name, value) in head.headers { bytes += name.utf8.count + value.utf8.count + 4 }
        if bytes > settings.maxHeaderBytes {
            return (.requestHeaderFieldsTooLarge, "header block larger than \(settings.maxHeaderBytes) bytes")
        }
        return nil
    }

    private func receiveBody(_ part: ByteBuffer) {
        guard let exchange, !exchange.discarding else { return }
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
            upstream.write(.body(.byteBuffer(part)))
        } else {
            exchange.unsent.append(part)
            exchange.unsentBytes += part.readableBytes
        }
    }

    private func endRequest(_ trailers: HTTPHeaders?, context: ChannelHandlerContext) {
        guard let exchange else { return }
        exchange.requestEnded = true
        exchange.trailers = trailers
        if exchange.discarding {
            if let (status, message) = exchange.pendingLocalResponse {
                exchange.pendingLocalResponse = nil
                writeLocalResponse(exchange, status: status, message: message)
            } else if exchange.responseEnded {
                // The answer went out before the request finished arriving; now it has.
                finishExchange(exchange)
            }
            return
        }
        if let upstream = exchange.upstream {
            upstream.write(.end(trailers))
            upstream.flush()
        }
    }

    // MARK: Tries

    private func startTry(_ exchange: Exchange) {
        guard let pool else { return }
        generation &+= 1
        let tryGeneration = generation
        exchange.tryActive = true
        exchange.backend.inFlight.wrappingIncrement(ordering: .relaxed)
        pool.acquire(exchange.backend) { [self] result in
            switch result {
            case .success(let connection):
                guard generation == tryGeneration, self.exchange === exchange else {
                    connection.abandon()
                    return
                }
                attach(connection, to: exchange)
            case .failure(let error):
                guard generation == tryGeneration, self.exchange === exchange else { return }
                tryFailed(exchange, UpstreamError(
                    kind: .connect,
                    description: NetworkErrorDescription.describe(
                        error, timeout: exchange.backend.connectTimeout ?? settings.connectTimeout)))
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, to exchange: Exchange) {
        connection.handler.delegate = self
        exchange.upstream = connection
        connection.write(.head(upstreamHead(for: exchange)))
        while let part = exchange.unsent.popFirst() {
            connection.write(.body(.byteBuffer(part)))
        }
        exchange.unsentBytes = 0
        if exchange.requestEnded { connection.write(.end(exchange.trailers)) }
        connection.flush()
        resumeClientReads()
    }

    /// The request as it goes to the backend, rebuilt from the client's original every try.
    private func upstreamHead(for exchange: Exchange) -> HTTPRequestHead {
        let original = exchange.head
        var headers = original.headers
        HopByHopHeaders.strip(&headers)
        headers.remove(name: "expect")
        let forwardedFor = headers["x-forwarded-for"]
        headers.replaceOrAdd(name: "x-forwarded-for",
                             value: (forwardedFor + [clientAddress]).joined(separator: ", "))
        headers.replaceOrAdd(name: "x-forwarded-proto", value: "http")
        if let host = original.headers.first(name: "host") {
            headers.replaceOrAdd(name: "x-forwarded-host", value: host)
        } else {
            headers.add(name: "host", value: exchange.backend.url.hostHeader)
        }
        headers.replaceOrAdd(name: "x-request-id", value: exchange.requestID)
        if let upgrade = exchange.upgrade {
            // Hop-by-hop, so stripped above; asked for again on this hop (RFC 9110 §7.8).
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: upgrade)
        }
        return HTTPRequestHead(version: .http1_1, method: original.method,
                               uri: exchange.backend.url.pathPrefix + Self.originForm(of: original.uri),
                               headers: headers)
    }

    /// RFC 9112 §3.2: a request target in absolute form becomes origin form for the backend.
    static func originForm(of uri: String) -> String {
        guard !uri.hasPrefix("/"), uri != "*", let schemeEnd = uri.range(of: "://") else { return uri }
        let afterAuthority = uri[schemeEnd.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" })
        guard let afterAuthority else { return "/" }
        let rest = uri[afterAuthority...]
        return rest.hasPrefix("/") ? String(rest) : "/" + rest
    }

    private func endTry(_ exchange: Exchange) {
        if exchange.tryActive {
            exchange.tryActive = false
            exchange.backend.inFlight.wrappingDecrement(ordering: .relaxed)
        }
        generation &+= 1
    }

    private func tryFailed(_ exchange: Exchange, _ error: UpstreamError) {
        let connection = exchange.upstream
        exchange.upstream = nil
        connection?.abandon()
        endTry(exchange)
        let sink = shared.sink
        if exchange.responseStarted {
            // Part of the response is already with the client: it can only be cut short.
            sink.failure(exchange.backend, requestID: exchange.requestID, attempt: exchange.attempt,
                         error: "\(error.description) after the response began")
            self.exchange = nil
            context?.close(promise: nil)
            return
        }
        // A kept-alive connection that the backend closed just as we reused it is not the
        // backend's fault: try once more on a fresh connection, without counting a failure.
        if connection?.hasServedBefore == true, error.kind == .reset, !exchange.retriedStaleConnection,
           exchange.canRepeat(afterConnectFailure: false) {
            exchange.retriedStaleConnection = true
            exchange.rewindBody()
            startTry(exchange)
            return
        }
        exchange.failuresOnBackend.append(
            sink.failure(exchange.backend, requestID: exchange.requestID, attempt: exchange.attempt,
                         error: error.description))
        if error.kind == .protocolViolation {
            sink.rejected(status: 502, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "invalid response from backend")
            respondLocally(exchange, status: .badGateway, message: "invalid response from backend")
            return
        }
        guard exchange.canRepeat(afterConnectFailure: error.kind == .connect) else {
            let status: HTTPResponseStatus = error.kind == .timeout ? .gatewayTimeout : .badGateway
            sink.rejected(status: Int(status.code), requestID: exchange.requestID, backend: exchange.backend,
                          reason: "backend failed and the request cannot be repeated safely")
            respondLocally(exchange, status: status, message: "backend failed; request not repeatable")
            return
        }
        // The seed's rule: the same backend again, a few times, a little later... except after a
        // timeout: a backend that sat on a request for the whole timeout gets no second wait.
        if exchange.retries < settings.retriesPerBackend, exchange.backend.isAlive, error.kind != .timeout {
            exchange.retries += 1
            exchange.attempt += 1
            sink.retry(exchange.backend, requestID: exchange.requestID, attempt: exchange.attempt, retry: exchange.retries)
            exchange.rewindBody()
            let tryGeneration = generation
            context?.eventLoop.assumeIsolated().scheduleTask(in: settings.retryDelay) { [self] in
                guard generation == tryGeneration, self.exchange === exchange else { return }
                startTry(exchange)
            }
            return
        }
        // ...then it is down, and another backend gets its own full set of retries.
        if let previous = exchange.backend.transition(to: .down) {
            sink.statusChange(exchange.backend, from: previous, to: .down,
                              cause: EventSink.Cause(kind: "traffic",
                                                     summary: "traffic: \(exchange.failuresOnBackend.count) failed "
                                                         + "tries of request \(exchange.requestID)",
                                                     threshold: settings.retriesPerBackend + 1,
                                                     evidence: exchange.failuresOnBackend),
                              requestID: exchange.requestID)
            shared.markedDown(exchange.backend)
        }
        exchange.tried.append(exchange.backend.id)
        guard exchange.tried.count < settings.maximumAttempts,
              let next = shared.balancer.nextBackend(for: exchange.balancingKey, excluding: exchange.tried)
        else {
            let status: HTTPResponseStatus = error.kind == .timeout ? .gatewayTimeout : .serviceUnavailable
            sink.rejected(status: Int(status.code), requestID: exchange.requestID, backend: exchange.backend,
                          reason: "all attempts failed: \(error.description)")
            respondLocally(exchange, status: status, message: status == .gatewayTimeout
                           ? "backend did not answer in time" : "no backend could serve the request")
            return
        }
        let previous = exchange.backend
        exchange.backend = next
        exchange.retries = 0
        exchange.failuresOnBackend.removeAll()
        exchange.attempt += 1
        sink.attempt(next, requestID: exchange.requestID, attempt: exchange.attempt, after: previous)
        exchange.rewindBody()
        startTry(exchange)
    }

    // MARK: Upstream side

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard let exchange, let context else { return }
        if head.status == .switchingProtocols, exchange.upgrade != nil {
            switchProtocols(exchange, head: head, context: context)
            return
        }
        // Interim answers (100, 103) are ours to drop: we already took the body.
        if head.status.code < 200 { return }
        // The request decoder stops reading after an Upgrade request; refused, the connection
        // cannot carry another request.
        if exchange.upgrade != nil { exchange.keepAlive = false }
        exchange.responseStarted = true
        exchange.upstreamKeepAlive = head.isKeepAlive
        var headers = head.headers
        HopByHopHeaders.strip(&headers)
        // An HTTP/1.0 client cannot take a chunked body on a kept-alive connection.
        if exchange.head.version.minor == 0 && !headers.contains(name: "content-length") {
            exchange.keepAlive = false
        }
        if !exchange.keepAlive {
            headers.add(name: "connection", value: "close")
        } else if exchange.head.version.minor == 0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        if !headers.contains(name: "x-request-id") { headers.add(name: "x-request-id", value: exchange.requestID) }
        shared.sink.metrics.countResponse(status: Int(head.status.code))
        exchange.responseStatus = Int(head.status.code)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: head.status,
                                                             headers: headers))), promise: nil)
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let exchange, let context else { return }
        exchange.responseBytes += body.readableBytes
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if !context.channel.isWritable {
            // Pause before flushing: the flush may drain the buffer at once and report the channel
            // writable again inside this call, and that resume must find the pause already made.
            exchange.upstream?.handler.pauseReads()
            context.flush()
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamResponseEnd() {
        guard let exchange, let context else { return }
        if exchange.switchingProtocols {
            startTunnel(exchange, context: context)
            return
        }
        exchange.responseEnded = true
        if let connection = exchange.upstream {
            exchange.upstream = nil
            if exchange.requestEnded && exchange.upstreamKeepAlive {
                pool?.release(connection)
            } else {
                connection.abandon()
            }
        }
        endTry(exchange)
        shared.sink.metrics.recordRequest(startedAt: exchange.startedAt)
        logAccess(exchange)
        let close = !exchange.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if close { context.close(promise: nil) }
        }
        if exchange.requestEnded {
            finishExchange(exchange)
        } else {
            exchange.discarding = true
            resumeClientReads()
        }
    }

    func upstreamFailed(_ error: UpstreamError) {
        guard let exchange else { return }
        tryFailed(exchange, error)
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeClientReads() }
    }

    // MARK: Upgrade

    /// Sends the backend's `101` on to the client; the tunnel starts at the response's end.
    private func switchProtocols(_ exchange: Exchange, head: HTTPResponseHead, context: ChannelHandlerContext) {
        exchange.responseStarted = true
        exchange.switchingProtocols = true
        exchange.responseStatus = 101
        shared.sink.metrics.countResponse(status: 101)
        var headers = head.headers
        HopByHopHeaders.strip(&headers)
        headers.add(name: "connection", value: "upgrade")
        headers.add(name: "upgrade", value: head.headers.first(name: "upgrade") ?? exchange.upgrade ?? "")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version,
                                                                     status: .switchingProtocols,
                                                                     headers: headers))), promise: nil)
    }

    /// Takes HTTP out of both connections and joins them byte for byte. The backend connection
    /// never returns to the pool; this handler leaves the client's pipeline.
    private func startTunnel(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let connection = exchange.upstream else { return }
        exchange.upstream = nil
        exchange.responseEnded = true
        endTry(exchange)
        shared.sink.metrics.recordRequest(startedAt: exchange.startedAt)
        logAccess(exchange)
        self.exchange = nil
        connection.handler.delegate = nil
        let (clientEnd, backendEnd) = TunnelHandler.pair()
        do {
            // The client side first: bytes the backend decoder hands on at its removal go
            // through the backend's tunnel end straight to it.
            let client = context.pipeline.syncOperations
            try client.addHandler(clientEnd)
            try removeHandler(HeaderDeadlineHandler.self, from: client)
            try? removeHandler(IdleStateHandler.self, from: client)
            try removeHandler(RequestHeadObserver.self, from: client)
            try removeHandler(HTTPServerPipelineHandler.self, from: client)
            try removeHandler(ProtocolErrorHandler.self, from: client)
            try removeHandler(HTTPResponseEncoder.self, from: client)
            try removeHandler(ByteToMessageHandler<HTTPRequestDecoder>.self, from: client)
            let backend = connection.channel.pipeline.syncOperations
            try backend.addHandler(backendEnd)
            try removeHandler(UpstreamHandler.self, from: backend)
            try removeHandler(IdleStateHandler.self, from: backend)
            try removeHandler(HTTPRequestEncoder.self, from: backend)
            try removeHandler(ByteToMessageHandler<HTTPResponseDecoder>.self, from: backend)
        } catch {
            connection.channel.close(promise: nil)
            context.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func removeHandler<Handler: RemovableChannelHandler>(
        _ type: Handler.Type, from pipeline: ChannelPipeline.SynchronousOperations) throws {
        let handlerContext = try pipeline.context(handlerType: type)
        pipeline.removeHandler(context: handlerContext, promise: nil)
    }

    // MARK: Answers of our own

    /// Sends a short plain-text answer. A request without a body is answered once its end has
    /// arrived, so the connection stays usable; a request whose body is still coming is answered
    /// at once and the connection closed, rather than reading a body nobody wants.
    private func respondLocally(_ exchange: Exchange, status: HTTPResponseStatus, message: String) {
        exchange.discarding = true
        exchange.responseStarted = true
        exchange.responseEnded = true
        if !exchange.requestEnded && !Self.announcesBody(exchange.head) {
            exchange.pendingLocalResponse = (status, message)
            return
        }
        writeLocalResponse(exchange, status: status, message: message)
    }

    private func writeLocalResponse(_ exchange: Exchange, status: HTTPResponseStatus, message: String) {
        guard let context else { return }
        let body = "\(status.code) \(status.reasonPhrase): \(message)\n"
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-request-id", value: exchange.requestID)
        let close = !exchange.keepAlive || !exchange.requestEnded
        if close { headers.add(name: "connection", value: "close") }
        shared.sink.metrics.countResponse(status: Int(status.code))
        shared.sink.metrics.recordRequest(startedAt: exchange.startedAt)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: status,
                                                             headers: headers))), promise: nil)
        exchange.responseStatus = Int(status.code)
        if exchange.head.method != .HEAD {
            exchange.responseBytes = body.utf8.count
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))),
                          promise: nil)
        }
        logAccess(exchange)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if close { context.close(promise: nil) }
        }
        if exchange.requestEnded { finishExchange(exchange) }
    }

    /// Hands the answered request to the access log, if there is one; the line is formatted and
    /// written on the log's own thread.
    private func logAccess(_ exchange: Exchange) {
        guard let accessLog = shared.accessLog else { return }
        let backend = exchange.backend === Self.noBackend ? nil : exchange.backend.url.text
        accessLog.record(AccessLog.Entry(
            at: .now(), client: clientAddress, method: exchange.head.method.rawValue, path: exchange.head.uri,
            status: exchange.responseStatus, bytes: exchange.responseBytes,
            durationNanoseconds: NIODeadline.now().uptimeNanoseconds &- exchange.startedAt,
            backend: backend, requestID: exchange.requestID))
    }

    /// Whether the request head says a body follows (RFC 9112 §6.3).
    private static func announcesBody(_ head: HTTPRequestHead) -> Bool {
        if head.headers.contains(name: "transfer-encoding") { return true }
        if let length = head.headers.first(name: "content-length"), length != "0" { return true }
        return false
    }

    private func finishExchange(_ exchange: Exchange) {
        if self.exchange === exchange { self.exchange = nil }
        resumeClientReads()
    }

    private func abortExchange() {
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
