import LBStore
import NIOCore

/// Forwards each request of one client connection to a backend chosen by the balancer, with the
/// seed's retry rules, and streams both bodies with back-pressure.
///
/// The only handler of a client connection: it cuts the client's bytes into requests itself
/// (`MessageReader`, `RequestHead`), forwards heads with a minimal rewrite and bodies as they
/// arrived, and serves one request at a time; pipelined requests wait in the reader's buffer.
/// The connection's phases are `ProxyConnectionState`'s, what follows a failed try is
/// `RetryPolicy`'s, the answer's writes are `ResponseRelay`'s; this handler performs what they
/// decide. Every call happens on the connection's event loop.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let shared: ProxyContext
    private var pool: UpstreamPool?
    /// This event loop's response counts and request durations.
    private var stats: RequestStats?
    private var context: ChannelHandlerContext?
    private var clientAddress = "unknown"
    private var exchange: Exchange?
    private var reader: MessageReader
    private var deadline: ConnectionDeadline?
    private let headTimeout: TimeAmount
    private let idleTimeout: TimeAmount?
    /// How far the request in progress and its answer have come.
    private var state = ProxyConnectionState()
    private let retryPolicy: RetryPolicy
    private var relay = ResponseRelay()
    /// The client's reads are held back (back-pressure) and one is owed when they resume.
    private var readPending = false
    /// When the client read being handled began.
    private var readStartedAt = NIODeadline.now()
    /// Body bytes were written to the backend and wait for a flush at the end of this read.
    private var upstreamFlushPending = false
    /// Bumped whenever a try ends, so late callbacks of an abandoned try are ignored.
    private var generation = 0

    init(shared: ProxyContext, headTimeout: TimeAmount, idleTimeout: TimeAmount?) {
        self.shared = shared
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        let settings = shared.settings
        retryPolicy = RetryPolicy(retriesPerBackend: settings.retriesPerBackend, maximumAttempts: settings.maximumAttempts)
        // The request line may carry a method and version around the target; the head as a
        // whole is bounded by both limits together.
        reader = MessageReader(firstLineLimit: settings.maxRequestLineBytes + 64,
                               headLimit: settings.maxRequestLineBytes + settings.maxHeaderBytes + 1_024)
    }

    private var settings: ProxySettings { shared.settings }

    private var limits: RequestHead.Limits {
        RequestHead.Limits(targetBytes: settings.maxRequestLineBytes, fieldBytes: settings.maxHeaderBytes,
                           fields: settings.maxHeaders)
    }

    // MARK: Client side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = shared.pools.pool(for: context.eventLoop)
        stats = shared.sink.metrics.requestStats(for: context.eventLoop)
        if let address = context.channel.remoteAddress?.ipAddress { clientAddress = address }
        let deadline = ConnectionDeadline(headTimeout: headTimeout, bodyTimeout: settings.bodyTimeout,
                                          idleTimeout: idleTimeout, eventLoop: context.eventLoop) { [self] phase in
            // A strong capture (no weak reference, see UpstreamHandler.delegate); the cycle it
            // makes is broken in handlerRemoved.
            deadlinePassed(phase)
        }
        self.deadline = deadline
        if context.channel.isActive { deadline.awaitHead(now: .now()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abortExchange()
        deadline?.cancel()
        deadline = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        deadline?.awaitHead(now: .now())
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !state.isClosing else { return }
        // One clock read per read serves the head deadline, the request's start and the pool.
        readStartedAt = .now()
        if exchange == nil, reader.isIdle, deadline?.phase == .idle { deadline?.awaitHead(now: readStartedAt) }
        reader.append(unwrapInboundIn(data))
        processRequests(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
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
        case .close:
            context.close(promise: nil)
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

    private func mustPauseClientReads() -> Bool {
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

    private func resumeClientReads() {
        guard readPending, let context, !mustPauseClientReads() else { return }
        readPending = false
        context.read()
    }

    /// Takes events out of the reader while the request in progress (if any) can use them.
    private func processRequests(context: ChannelHandlerContext) {
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

    /// Answers a request whose bytes were refused (RFC 9110's status for the fault) and closes:
    /// the framing of whatever follows cannot be trusted. It never reaches a backend.
    /// A refused `HEAD` (as far as its request line tells) gets its answer without a body, as any
    /// answer to HEAD must be: a client that read the method would take the body for a response.
    private func refuse(_ error: HeadError, context: ChannelHandlerContext, requestWasHEAD: Bool) {
        let requestID = exchange?.requestID
        let action = state.refuse()
        abortExchange()
        deadline?.cancel()
        guard action == .answerAndClose else {
            context.close(promise: nil)
            return
        }
        // Refused at once: it counts as an answered request that took no time.
        stats?.recordRequest(startedAt: readStartedAt, endedAt: readStartedAt)
        shared.sink.refused(status: error.status, reason: error.description, requestID: requestID,
                            clientAddress: clientAddress)
        answerAndClose(status: error.status, message: error.description, includeBody: !requestWasHEAD, context: context)
    }

    /// Sends the balancer's own answer where no request is being served (a refused head, a head
    /// that did not arrive in time), then closes once it is out.
    private func answerAndClose(status: Int, message: String, includeBody: Bool = true, context: ChannelHandlerContext) {
        stats?.countResponse(status: status)
        let response = LocalResponse.bytes(status: status, message: message, requestID: nil, close: true,
                                           includeBody: includeBody, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(response.bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func deadlinePassed(_ phase: ConnectionDeadline.Phase) {
        guard let context, !state.isClosing else { return }
        switch phase {
        case .awaitingBody:
            guard let exchange else { return }
            // Reads held back by us (a slow backend, a full replay buffer) are not the client's delay.
            guard !readPending else {
                deadline?.awaitBody(now: .now())
                return
            }
            bodyTimedOut(exchange, context: context)
        case .awaitingHead:
            guard exchange == nil, state.headOrIdleDeadlinePassed(awaitingHead: true) == .answerAndClose else { return }
            shared.sink.refused(status: 408, reason: "the request head did not arrive in time", requestID: nil,
                                clientAddress: clientAddress)
            answerAndClose(status: 408, message: "the request head did not arrive in time", context: context)
        case .idle, .busy:
            guard exchange == nil, state.headOrIdleDeadlinePassed(awaitingHead: false) == .close else { return }
            context.close(promise: nil)
        }
    }

    /// The client stopped sending a body it announced: it gets `408` when no answer has begun,
    /// else the connection is closed; the backend's half-sent request is abandoned with its
    /// connection, which never completes it.
    private func bodyTimedOut(_ exchange: Exchange, context: ChannelHandlerContext) {
        let action = state.bodyDeadlinePassed()
        guard action != .none else { return }
        shared.sink.refused(status: 408,
                            reason: action == .close ? "request body stalled after the answer began; connection closed"
                                                     : "request body did not arrive in time",
                            requestID: exchange.requestID, clientAddress: clientAddress)
        abortExchange()
        deadline?.cancel()
        if action == .close {
            context.close(promise: nil)
        } else {
            stats?.recordRequest(startedAt: exchange.startedAt)
            answerAndClose(status: 408, message: "the request body did not arrive in time", context: context)
        }
    }

    private func startRequest(_ head: RequestHead, context: ChannelHandlerContext) {
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

    private func receiveBody(_ part: ByteBuffer) {
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

    /// Writes a part of the request body as the backend gets it: as it arrived for a body of
    /// known length, as one chunk of ours for a chunked one.
    private func writeBody(_ part: ByteBuffer, of exchange: Exchange, to connection: UpstreamConnection) {
        guard exchange.isChunked else {
            connection.write(part, now: readStartedAt)
            return
        }
        guard part.readableBytes > 0 else { return }
        connection.write(ChunkedRequestBody.chunk(part, allocator: connection.channel.allocator), now: readStartedAt)
    }

    /// Ends a chunked body on the backend's connection: the last chunk and the trailer fields.
    private func writeLastChunk(of exchange: Exchange, to connection: UpstreamConnection) {
        connection.write(ChunkedRequestBody.lastChunk(trailers: exchange.forwardedTrailers,
                                                      allocator: connection.channel.allocator),
                         now: readStartedAt)
    }

    private func endRequest() {
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

    // MARK: Tries

    private func startTry(_ exchange: Exchange) {
        guard let pool else { return }
        generation &+= 1
        let tryGeneration = generation
        exchange.tryActive = true
        exchange.backend.inFlight.wrappingAdd(1, ordering: .relaxed)
        if let connection = pool.takeIdle(exchange.backend, now: readStartedAt) {
            attach(connection, to: exchange)
            return
        }
        pool.connect(exchange.backend) { [self] result in
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
        connection.handler.beginExchange(delegate: self, requestIsHEAD: exchange.head.isHEAD)
        exchange.upstream = connection
        let backend = exchange.backend
        // Room for the usual rewrite in one allocation; writeForwarded grows it if ever needed.
        var head = connection.channel.allocator.buffer(capacity: 2 * exchange.head.bytes.readableBytes + 512)
        exchange.head.writeForwarded(into: &head, pathPrefix: backend.url.pathPrefix, hostHeader: backend.url.hostHeader,
                                     clientAddress: clientAddress, requestID: exchange.requestID,
                                     upgrade: exchange.upgrade)
        connection.write(head, now: readStartedAt)
        for part in exchange.unsent {
            writeBody(part, of: exchange, to: connection)
        }
        exchange.unsent.removeAll()
        exchange.unsentBytes = 0
        if state.requestHasEnded && exchange.isChunked { writeLastChunk(of: exchange, to: connection) }
        connection.flush()
        resumeClientReads()
    }

    private func endTry(_ exchange: Exchange) {
        if exchange.tryActive {
            exchange.tryActive = false
            exchange.backend.inFlight.wrappingSubtract(1, ordering: .relaxed)
        }
        generation &+= 1
    }

    /// Carries out what follows a failed try: cut the answer short if it began, else what
    /// `RetryPolicy` decides.
    private func tryFailed(_ exchange: Exchange, _ error: UpstreamError) {
        let connection = exchange.upstream
        exchange.upstream = nil
        connection?.abandon()
        endTry(exchange)
        let sink = shared.sink
        guard state.tryFailed() == .consultRetryPolicy else {
            sink.failure(exchange.backend, requestID: exchange.requestID, attempt: exchange.tries.attempt,
                         error: "\(error.description) after the response began")
            self.exchange = nil
            context?.close(promise: nil)
            return
        }
        let decision = retryPolicy.decide(
            RetryPolicy.Failure(kind: error.kind, onReusedConnection: connection?.hasServedBefore == true,
                                bodyReplayable: exchange.replay != nil, requestRepeatable: exchange.head.isRepeatable,
                                backendAlive: exchange.backend.isAlive),
            record: exchange.tries)
        if decision == .reconnect {
            exchange.tries.retriedStaleConnection = true
            exchange.rewindBody()
            startTry(exchange)
            return
        }
        exchange.tries.recordFailure(error.kind, evidence: sink.failure(
            exchange.backend, requestID: exchange.requestID, attempt: exchange.tries.attempt, error: error.description))
        switch decision {
        case .reconnect:
            preconditionFailure("handled above")
        case .answerInvalidResponse:
            sink.rejected(status: 502, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "invalid response from backend", clientAddress: clientAddress)
            respondLocally(exchange, LocalAnswer(status: 502, message: "invalid response from backend"))
        case .answerSuspectedRequest:
            sink.suspectedRequest(exchange.backend, requestID: exchange.requestID, method: exchange.head.method,
                                  target: exchange.head.target, error: error.description,
                                  earlierBackends: exchange.tries.tried)
            sink.rejected(status: 502, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "suspected request of death: it failed the same way on two backends")
            respondLocally(exchange, LocalAnswer(status: 502, message: "the request failed the same way on two backends"))
        case .answerNotRepeatable(let status):
            sink.rejected(status: status, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "not retried: \(exchange.whyNotRepeated)", clientAddress: clientAddress)
            respondLocally(exchange, LocalAnswer(status: status, message: "backend failed; request not repeatable"))
        case .retrySameBackend:
            exchange.tries.beginRetry()
            sink.retry(exchange.backend, requestID: exchange.requestID, attempt: exchange.tries.attempt,
                       retry: exchange.tries.retries)
            exchange.rewindBody()
            let tryGeneration = generation
            context?.eventLoop.assumeIsolated().scheduleTask(in: settings.retryDelay) { [self] in
                guard generation == tryGeneration, self.exchange === exchange else { return }
                startTry(exchange)
            }
        case .tryAnotherBackend(let statusIfNone):
            markDownByTraffic(exchange)
            exchange.tries.giveUp(on: exchange.backend.id)
            guard retryPolicy.mayTryAnotherBackend(exchange.tries),
                  let next = shared.balancer.nextBackend(for: exchange.balancingKey, excluding: exchange.tries.tried)
            else {
                sink.rejected(status: statusIfNone, requestID: exchange.requestID, backend: exchange.backend,
                              reason: "all attempts failed: \(error.description)", clientAddress: clientAddress)
                respondLocally(exchange, LocalAnswer(status: statusIfNone, message: statusIfNone == 504
                                                     ? "backend did not answer in time" : "no backend could serve the request"))
                return
            }
            let previous = exchange.backend
            exchange.backend = next
            exchange.tries.moveToNextBackend()
            sink.attempt(next, requestID: exchange.requestID, attempt: exchange.tries.attempt, after: previous)
            exchange.rewindBody()
            startTry(exchange)
        }
    }

    /// Marks the exchange's backend down after its failed tries, unless traffic already took
    /// down as many backends as it may in one health-down interval (half the enabled ones): past
    /// that only checks can, and the guard's holding is recorded instead.
    private func markDownByTraffic(_ exchange: Exchange) {
        let backend = exchange.backend
        guard backend.isAlive else { return }
        let sink = shared.sink
        let evidence = exchange.tries.failuresOnBackend
        let enabled = shared.balancer.current.backends.reduce(0) { $0 + ($1.adminState == .enabled ? 1 : 0) }
        guard shared.trafficMarkDowns.admit(backend.id, enabledBackends: enabled, now: .now()) else {
            sink.guardHeld(backend, requestID: exchange.requestID,
                           limit: TrafficMarkDownGuard.limit(enabledBackends: enabled),
                           window: shared.trafficMarkDowns.window, evidence: evidence)
            return
        }
        guard let previous = backend.transition(to: .down) else {
            // Marked down meanwhile by another connection or a check: not this one's to count.
            shared.trafficMarkDowns.release(backend.id)
            return
        }
        sink.statusChange(backend, from: previous, to: .down,
                          cause: EventSink.Cause(kind: "traffic",
                                                 summary: "traffic: \(evidence.count) failed "
                                                     + "tries of request \(exchange.requestID)",
                                                 threshold: settings.retriesPerBackend + 1,
                                                 evidence: evidence),
                          requestID: exchange.requestID)
        shared.markedDown(backend)
    }

    // MARK: Upstream side

    func upstreamResponseHead(_ head: ResponseHead) -> Bool {
        guard let exchange, let context, !state.isClosing else { return false }
        if head.status == 101 {
            guard let offered = exchange.upgrade else {
                // A switch nobody asked for cannot be followed.
                upstreamFailed(UpstreamError(kind: .protocolViolation, description: "101 to a request without Upgrade"))
                return false
            }
            guard UpgradePolicy.accepts(head.upgrade, offered: offered) else {
                upstreamFailed(UpstreamError(kind: .protocolViolation,
                                             description: "101 to a protocol that was not offered"))
                return false
            }
            switchProtocols(exchange, head: head, context: context)
            return false
        }
        // An HTTP/1.0 client cannot take chunks; it gets the payload and the close delimits it.
        let removeChunking = head.framing == .chunked && exchange.head.minorVersion == 0
        // The reader stops after an Upgrade request; refused, the connection cannot carry another.
        let keepAlive = state.responseHeadArrived(
            connectionReusable: exchange.upgrade == nil && !removeChunking && head.framing != .untilClose)
        exchange.upstreamKeepAlive = head.keepAlive
        stats?.countResponse(status: head.status)
        exchange.responseStatus = head.status
        var capacity = head.bytes.readableBytes + 160
        if case .length(let length) = head.framing, length <= ResponseRelay.coalescedBodyBytes { capacity += length }
        var buffer = context.channel.allocator.buffer(capacity: capacity)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: exchange.head.minorVersion,
                                                          keepAlive: keepAlive, removeChunking: removeChunking,
                                                          requestID: exchange.requestID))
        relay.hold(head: buffer)
        return removeChunking
    }

    /// Passes a backend's interim answer on to an HTTP/1.1 client (RFC 9110 §15.2: a proxy
    /// forwards 1xx answers), except `100 Continue`, which the proxy already sent itself when the
    /// client asked for it. An HTTP/1.0 client gets none (it may not understand them).
    func upstreamInterimResponse(_ head: ResponseHead) {
        guard let exchange, let context, head.status != 100, exchange.head.minorVersion == 1,
              state.acceptsInterimResponse else { return }
        stats?.countResponse(status: head.status)
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 160)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: 1, keepAlive: true, removeChunking: false,
                                                          requestID: exchange.requestID))
        relay.wrote()
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let exchange, let context else { return }
        exchange.responseBytes += body.readableBytes
        let writes = relay.writes(forBody: body)
        context.write(wrapOutboundOut(writes.first), promise: nil)
        if let second = writes.second { context.write(wrapOutboundOut(second), promise: nil) }
        if !context.channel.isWritable {
            // Pause before flushing: the flush may drain the buffer at once and report the channel
            // writable again inside this call, and that resume must find the pause already made.
            exchange.upstream?.handler.pauseReads()
            flushResponse(context: context)
        }
    }

    func upstreamReadComplete() {
        guard let context else { return }
        let flush = relay.flushAtReadComplete()
        guard flush.due else { return }
        if let head = flush.head { context.write(wrapOutboundOut(head), promise: nil) }
        context.flush()
    }

    /// Writes the held response head, if any, and flushes.
    private func flushResponse(context: ChannelHandlerContext) {
        if let head = relay.flush() { context.write(wrapOutboundOut(head), promise: nil) }
        context.flush()
    }

    /// Writes the held response head, if any, flushes, and closes the connection once everything
    /// written is out.
    private func flushResponseAndClose(context: ChannelHandlerContext) {
        if let head = relay.flush() { context.write(wrapOutboundOut(head), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }

    func upstreamResponseEnd() {
        guard let exchange, let context, !state.isClosing else { return }
        let requestEnded = state.requestHasEnded
        let action = state.responseEnded()
        if action == .startTunnel {
            startTunnel(exchange, context: context)
            return
        }
        var endedAt = readStartedAt
        if let connection = exchange.upstream {
            // The time of the backend read that ended the response.
            endedAt = connection.handler.lastActivity
            exchange.upstream = nil
            if requestEnded && exchange.upstreamKeepAlive && connection.handler.isReusable {
                pool?.release(connection)
            } else {
                connection.abandon()
            }
        }
        endTry(exchange)
        stats?.recordRequest(startedAt: exchange.startedAt, endedAt: endedAt)
        logAccess(exchange)
        switch action {
        case .flushAndClose:
            self.exchange = nil
            flushResponseAndClose(context: context)
        case .flushAndCompleteExchange:
            flushResponse(context: context)
            finishExchange(exchange, now: endedAt)
        case .flushAndDropRestOfRequest:
            flushResponse(context: context)
            resumeClientReads()
        case .startTunnel:
            preconditionFailure("handled above")
        }
    }

    func upstreamFailed(_ error: UpstreamError) {
        guard let exchange, !state.isClosing else { return }
        tryFailed(exchange, error)
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeClientReads() }
    }

    // MARK: Upgrade

    /// Sends the backend's `101` on to the client; the tunnel starts at the response's end.
    private func switchProtocols(_ exchange: Exchange, head: ResponseHead, context: ChannelHandlerContext) {
        state.switchingProtocols()
        exchange.responseStatus = 101
        stats?.countResponse(status: 101)
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 160)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: exchange.head.minorVersion, keepAlive: true,
                                                          removeChunking: false, requestID: exchange.requestID))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Joins the client and backend connections into a tunnel (see `TunnelHandler.join`); this
    /// handler leaves the client's pipeline.
    private func startTunnel(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let connection = exchange.upstream else { return }
        exchange.upstream = nil
        endTry(exchange)
        stats?.recordRequest(startedAt: exchange.startedAt)
        logAccess(exchange)
        self.exchange = nil
        deadline?.cancel()
        TunnelHandler.join(client: context, clientBytes: reader.takeBuffered(), backend: connection,
                           idleTimeout: settings.tunnelIdleTimeout)
    }

    // MARK: Answers of our own

    /// Answers the request with the proxy's own short text, now or once the request's end has
    /// arrived, as `ProxyConnectionState.answerLocally` decides.
    private func respondLocally(_ exchange: Exchange, _ answer: LocalAnswer) {
        switch state.answerLocally(answer, requestHasBody: exchange.head.framing != .none) {
        case .holdUntilRequestEnds:
            return
        case .send(let close):
            writeLocalResponse(exchange, answer, close: close)
        }
    }

    /// Writes a local answer; the exchange is over with it (the connection closes after it when
    /// `close`, else the next request may start).
    private func writeLocalResponse(_ exchange: Exchange, _ answer: LocalAnswer, close: Bool) {
        guard let context else { return }
        stats?.countResponse(status: answer.status)
        stats?.recordRequest(startedAt: exchange.startedAt)
        let response = LocalResponse.bytes(status: answer.status, message: answer.message,
                                           minorVersion: exchange.head.minorVersion, requestID: exchange.requestID,
                                           close: close, includeBody: !exchange.head.isHEAD,
                                           allocator: context.channel.allocator)
        exchange.responseStatus = answer.status
        exchange.responseBytes = response.bodyBytes
        context.write(wrapOutboundOut(response.bytes), promise: nil)
        logAccess(exchange)
        if close {
            self.exchange = nil
            flushResponseAndClose(context: context)
        } else {
            flushResponse(context: context)
            finishExchange(exchange, now: .now())
        }
    }

    /// Hands the answered request to the access log, if there is one; the line is formatted and
    /// written on the log's own thread.
    private func logAccess(_ exchange: Exchange) {
        guard let accessLog = shared.accessLog else { return }
        let backend = exchange.backend === Self.noBackend ? nil : exchange.backend.url.text
        accessLog.record(AccessLog.Entry(
            at: .now(), client: clientAddress, method: exchange.head.method, path: exchange.head.target,
            status: exchange.responseStatus, bytes: exchange.responseBytes,
            durationNanoseconds: NIODeadline.now().uptimeNanoseconds &- exchange.startedAt.uptimeNanoseconds,
            backend: backend, requestID: exchange.requestID))
    }

    /// The request and its answer are both complete: the next pipelined request, if one is
    /// buffered, goes next; otherwise the connection is idle.
    private func finishExchange(_ exchange: Exchange, now: NIODeadline) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        guard !state.isClosing, let context else { return }
        if reader.isIdle {
            deadline?.becomeIdle(now: now)
        } else {
            deadline?.awaitHead(now: now)
            processRequests(context: context)
        }
        resumeClientReads()
    }

    private func abortExchange() {
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
