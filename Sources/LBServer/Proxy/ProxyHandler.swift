import LBStore
import NIOCore

/// Forwards each request of one client connection to a backend chosen by the balancer, with the
/// seed's retry rules, and streams both bodies with back-pressure.
///
/// The only handler of a client connection: it cuts the client's bytes into requests itself
/// (`MessageReader`, `RequestHead`), forwards heads with a minimal rewrite and bodies as they
/// arrived, and serves one request at a time; pipelined requests wait in the reader's buffer.
/// Every call happens on the connection's event loop.
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
    private var readPending = false
    /// When the client read being handled began.
    private var readStartedAt = NIODeadline.now()
    /// Body bytes were written to the backend and wait for a flush at the end of this read.
    private var upstreamFlushPending = false
    /// Response bytes were written to the client and wait for a flush at the end of the backend's read.
    private var clientFlushPending = false
    /// The response head, held back so that a small body arriving with it goes out in the same
    /// write: one buffer and one `write` instead of two.
    private var heldResponseHead: ByteBuffer?
    /// The server is shutting down: close after the request in progress.
    private var quiescing = false
    /// A refusal or a close is under way; nothing more is read or answered.
    private var closing = false
    /// Bumped whenever a try ends, so late callbacks of an abandoned try are ignored.
    private var generation = 0

    init(shared: ProxyContext, headTimeout: TimeAmount, idleTimeout: TimeAmount?) {
        self.shared = shared
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        let settings = shared.settings
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
        guard !closing else { return }
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
        abortExchange()
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.handler.resumeReads() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if let exchange {
                // Finish this request, then close; the answer says so if it has not started.
                exchange.keepAlive = false
            } else {
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
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
        guard let exchange else { return false }
        if exchange.requestEnded || exchange.discarding {
            // Bytes of the next request wait in the reader; do not pile up more than a head's worth.
            return exchange.requestEnded && reader.bufferedBytes >= settings.maxRequestLineBytes + settings.maxHeaderBytes
        }
        if let upstream = exchange.upstream { return !upstream.isWritable }
        return exchange.unsentBytes >= settings.replayBufferBytes
    }

    private func resumeClientReads() {
        guard readPending, let context, !mustPauseClientReads() else { return }
        readPending = false
        context.read()
    }

    /// Takes events out of the reader while the request in progress (if any) can use them.
    private func processRequests(context: ChannelHandlerContext) {
        do {
            while !closing {
                if let exchange, exchange.requestEnded { return }
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
        closing = true
        let responseStarted = exchange?.responseStarted ?? false
        let requestID = exchange?.requestID
        abortExchange()
        deadline?.cancel()
        guard !responseStarted else {
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
        guard let context, !closing else { return }
        if phase == .awaitingBody {
            guard let exchange else { return }
            // Reads held back by us (a slow backend, a full replay buffer) are not the client's delay.
            guard !readPending else {
                deadline?.awaitBody(now: .now())
                return
            }
            bodyTimedOut(exchange, context: context)
            return
        }
        guard exchange == nil else { return }
        closing = true
        switch phase {
        case .awaitingHead:
            shared.sink.refused(status: 408, reason: "the request head did not arrive in time", requestID: nil,
                                clientAddress: clientAddress)
            answerAndClose(status: 408, message: "the request head did not arrive in time", context: context)
        case .idle, .busy, .awaitingBody:
            context.close(promise: nil)
        }
    }

    /// The client stopped sending a body it announced: it gets `408` when no answer has begun,
    /// else the connection is closed; the backend's half-sent request is abandoned with its
    /// connection, which never completes it.
    private func bodyTimedOut(_ exchange: Exchange, context: ChannelHandlerContext) {
        closing = true
        let responseStarted = exchange.responseStarted
        shared.sink.refused(status: 408,
                            reason: responseStarted ? "request body stalled after the answer began; connection closed"
                                                    : "request body did not arrive in time",
                            requestID: exchange.requestID, clientAddress: clientAddress)
        abortExchange()
        deadline?.cancel()
        if responseStarted {
            context.close(promise: nil)
        } else {
            stats?.recordRequest(startedAt: exchange.startedAt)
            answerAndClose(status: 408, message: "the request body did not arrive in time", context: context)
        }
    }

    private func startRequest(_ head: RequestHead, context: ChannelHandlerContext) {
        let requestID = head.clientRequestID.flatMap { RequestID.isSane($0) ? $0 : nil } ?? RequestID.make()
        let balancingKey = shared.hashKey?.key(for: head, clientAddress: clientAddress)
        guard let backend = shared.balancer.nextBackend(for: balancingKey) else {
            // Off the hot path: only a request that found nothing looks at why.
            let allAtLimit = shared.balancer.current.backends.contains {
                $0.isAlive && $0.adminState == .enabled && !$0.hasRoom
            }
            shared.sink.noBackendAvailable(allAtLimit: allAtLimit)
            shared.sink.rejected(status: 503, requestID: requestID, backend: nil, reason: "no backend available",
                                 clientAddress: clientAddress)
            let placeholder = Exchange(head: head, requestID: requestID, backend: Self.noBackend, startedAt: readStartedAt)
            if quiescing { placeholder.keepAlive = false }
            exchange = placeholder
            respondLocally(placeholder, status: 503, message: "no backend available")
            return
        }
        let exchange = Exchange(head: head, requestID: requestID, backend: backend, startedAt: readStartedAt)
        exchange.balancingKey = balancingKey
        exchange.upgrade = head.upgrade.flatMap { UpgradePolicy.permitted($0, allowed: settings.upgradeProtocols) }
        if quiescing { exchange.keepAlive = false }
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
        exchange.requestEnded = true
        if exchange.isChunked { exchange.forwardedTrailers = ChunkedRequestBody.forwardedTrailers(reader.trailers) }
        if exchange.discarding {
            if let (status, message) = exchange.pendingLocalResponse {
                exchange.pendingLocalResponse = nil
                writeLocalResponse(exchange, status: status, message: message)
            } else if exchange.responseEnded {
                // The answer went out before the request finished arriving; now it has.
                finishExchange(exchange, now: readStartedAt)
            }
            return
        }
        guard let upstream = exchange.upstream else { return }
        if exchange.isChunked { writeLastChunk(of: exchange, to: upstream) }
        upstream.flush()
    }

    // MARK: Tries

    private func startTry(_ exchange: Exchange) {
        guard let pool else { return }
        generation &+= 1
        let tryGeneration = generation
        exchange.tryActive = true
        exchange.backend.inFlight.wrappingIncrement(ordering: .relaxed)
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
        if exchange.requestEnded && exchange.isChunked { writeLastChunk(of: exchange, to: connection) }
        connection.flush()
        resumeClientReads()
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
        // A kept-alive connection that the backend closed just as we reused it (the idle-close
        // race: nothing came back) is not the backend's fault, and the request most likely never
        // reached it: once more on a fresh connection, whatever the method, without counting a
        // failure.
        if connection?.hasServedBefore == true, error.kind == .reset, !exchange.retriedStaleConnection,
           exchange.replay != nil {
            exchange.retriedStaleConnection = true
            exchange.rewindBody()
            startTry(exchange)
            return
        }
        exchange.failuresOnBackend.append(
            sink.failure(exchange.backend, requestID: exchange.requestID, attempt: exchange.attempt,
                         error: error.description))
        if error.kind != .connect { exchange.failureKindsOnBackend.append(error.kind) }
        if error.kind == .protocolViolation {
            sink.rejected(status: 502, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "invalid response from backend", clientAddress: clientAddress)
            respondLocally(exchange, status: 502, message: "invalid response from backend")
            return
        }
        // The same failure on a second backend points at the request, not at the backends: stop
        // before it takes this one down too.
        if error.kind != .connect, exchange.failureKindsOnEarlierBackends.contains(error.kind) {
            sink.suspectedRequest(exchange.backend, requestID: exchange.requestID, method: exchange.head.method,
                                  target: exchange.head.target, error: error.description,
                                  earlierBackends: exchange.tried)
            sink.rejected(status: 502, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "suspected request of death: it failed the same way on two backends")
            respondLocally(exchange, status: 502, message: "the request failed the same way on two backends")
            return
        }
        guard exchange.canRepeat(afterConnectFailure: error.kind == .connect) else {
            let status = error.kind == .timeout ? 504 : 502
            sink.rejected(status: status, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "not retried: \(exchange.whyNotRepeated)", clientAddress: clientAddress)
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
        markDownByTraffic(exchange)
        exchange.tried.append(exchange.backend.id)
        exchange.failureKindsOnEarlierBackends += exchange.failureKindsOnBackend
        exchange.failureKindsOnBackend.removeAll()
        guard exchange.tried.count < settings.maximumAttempts,
              let next = shared.balancer.nextBackend(for: exchange.balancingKey, excluding: exchange.tried)
        else {
            let status = error.kind == .timeout ? 504 : 503
            sink.rejected(status: status, requestID: exchange.requestID, backend: exchange.backend,
                          reason: "all attempts failed: \(error.description)", clientAddress: clientAddress)
            respondLocally(exchange, status: status, message: status == 504
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

    /// Marks the exchange's backend down after its failed tries, unless traffic already took
    /// down as many backends as it may in one health-down interval (half the enabled ones): past
    /// that only checks can, and the guard's holding is recorded instead.
    private func markDownByTraffic(_ exchange: Exchange) {
        let backend = exchange.backend
        guard backend.isAlive else { return }
        let sink = shared.sink
        let enabled = shared.balancer.current.backends.reduce(0) { $0 + ($1.adminState == .enabled ? 1 : 0) }
        guard shared.trafficMarkDowns.admit(backend.id, enabledBackends: enabled, now: .now()) else {
            sink.guardHeld(backend, requestID: exchange.requestID,
                           limit: TrafficMarkDownGuard.limit(enabledBackends: enabled),
                           window: shared.trafficMarkDowns.window, evidence: exchange.failuresOnBackend)
            return
        }
        guard let previous = backend.transition(to: .down) else {
            // Marked down meanwhile by another connection or a check: not this one's to count.
            shared.trafficMarkDowns.release(backend.id)
            return
        }
        sink.statusChange(backend, from: previous, to: .down,
                          cause: EventSink.Cause(kind: .traffic,
                                                 summary: "traffic: \(exchange.failuresOnBackend.count) failed "
                                                     + "tries of request \(exchange.requestID)",
                                                 threshold: settings.retriesPerBackend + 1,
                                                 evidence: exchange.failuresOnBackend),
                          requestID: exchange.requestID)
        shared.markedDown(backend)
    }

    // MARK: Upstream side

    func upstreamResponseHead(_ head: ResponseHead) -> Bool {
        guard let exchange, let context else { return false }
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
        // The reader stops after an Upgrade request; refused, the connection cannot carry another.
        if exchange.upgrade != nil { exchange.keepAlive = false }
        exchange.responseStarted = true
        exchange.upstreamKeepAlive = head.keepAlive
        // An HTTP/1.0 client cannot take chunks; it gets the payload and the close delimits it.
        let removeChunking = head.framing == .chunked && exchange.head.minorVersion == 0
        if removeChunking || head.framing == .untilClose { exchange.keepAlive = false }
        stats?.countResponse(status: head.status)
        exchange.responseStatus = head.status
        var capacity = head.bytes.readableBytes + 160
        if case .length(let length) = head.framing, length <= Self.coalescedBodyBytes { capacity += length }
        var buffer = context.channel.allocator.buffer(capacity: capacity)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: exchange.head.minorVersion,
                                                          keepAlive: exchange.keepAlive, removeChunking: removeChunking,
                                                          requestID: exchange.requestID))
        heldResponseHead = buffer
        clientFlushPending = true
        return removeChunking
    }

    /// Passes a backend's interim answer on to an HTTP/1.1 client (RFC 9110 §15.2: a proxy
    /// forwards 1xx answers), except `100 Continue`, which the proxy already sent itself when the
    /// client asked for it. An HTTP/1.0 client gets none (it may not understand them).
    func upstreamInterimResponse(_ head: ResponseHead) {
        guard let exchange, let context, head.status != 100, exchange.head.minorVersion == 1,
              !exchange.responseStarted else { return }
        stats?.countResponse(status: head.status)
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 160)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: 1, keepAlive: true, removeChunking: false,
                                                          requestID: exchange.requestID))
        context.write(wrapOutboundOut(buffer), promise: nil)
        clientFlushPending = true
    }

    /// Body bytes up to this size are copied into the held response head rather than written
    /// on their own.
    private static let coalescedBodyBytes = 4_096

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let exchange, let context else { return }
        exchange.responseBytes += body.readableBytes
        if var head = heldResponseHead, body.readableBytes <= Self.coalescedBodyBytes {
            heldResponseHead = nil
            head.writeImmutableBuffer(body)
            context.write(wrapOutboundOut(head), promise: nil)
        } else {
            writeHeldResponseHead(context: context)
            context.write(wrapOutboundOut(body), promise: nil)
        }
        clientFlushPending = true
        if !context.channel.isWritable {
            // Pause before flushing: the flush may drain the buffer at once and report the channel
            // writable again inside this call, and that resume must find the pause already made.
            exchange.upstream?.handler.pauseReads()
            context.flush()
        }
    }

    func upstreamReadComplete() {
        guard clientFlushPending, let context else { return }
        clientFlushPending = false
        writeHeldResponseHead(context: context)
        context.flush()
    }

    private func writeHeldResponseHead(context: ChannelHandlerContext) {
        guard let head = heldResponseHead else { return }
        heldResponseHead = nil
        context.write(wrapOutboundOut(head), promise: nil)
    }

    func upstreamResponseEnd() {
        guard let exchange, let context else { return }
        if exchange.switchingProtocols {
            startTunnel(exchange, context: context)
            return
        }
        exchange.responseEnded = true
        var endedAt = readStartedAt
        if let connection = exchange.upstream {
            // The time of the backend read that ended the response.
            endedAt = connection.handler.lastActivity
            exchange.upstream = nil
            if exchange.requestEnded && exchange.upstreamKeepAlive && connection.handler.isReusable {
                pool?.release(connection)
            } else {
                connection.abandon()
            }
        }
        endTry(exchange)
        stats?.recordRequest(startedAt: exchange.startedAt, endedAt: endedAt)
        logAccess(exchange)
        flushResponse(closing: !exchange.keepAlive, context: context)
        if exchange.requestEnded {
            finishExchange(exchange, now: endedAt)
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
    private func switchProtocols(_ exchange: Exchange, head: ResponseHead, context: ChannelHandlerContext) {
        exchange.responseStarted = true
        exchange.switchingProtocols = true
        exchange.responseStatus = 101
        stats?.countResponse(status: 101)
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 160)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: exchange.head.minorVersion, keepAlive: true,
                                                          removeChunking: false, requestID: exchange.requestID))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Takes HTTP out of both connections and joins them byte for byte. The backend connection
    /// never returns to the pool; this handler leaves the client's pipeline.
    private func startTunnel(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let connection = exchange.upstream else { return }
        exchange.upstream = nil
        exchange.responseEnded = true
        endTry(exchange)
        stats?.recordRequest(startedAt: exchange.startedAt)
        logAccess(exchange)
        self.exchange = nil
        connection.handler.delegate = nil
        deadline?.cancel()
        let (clientEnd, backendEnd) = TunnelHandler.pair(idleTimeout: settings.tunnelIdleTimeout)
        // Bytes either side sent right after the switch belong to the new protocol.
        if let early = connection.handler.takeBuffered() { context.write(wrapOutboundOut(early), promise: nil) }
        context.flush()
        if let early = reader.takeBuffered() { connection.write(early, now: readStartedAt) }
        connection.flush()
        do {
            let client = context.pipeline.syncOperations
            try client.addHandler(clientEnd)
            let backend = connection.channel.pipeline.syncOperations
            try backend.addHandler(backendEnd)
            try removeHandler(UpstreamHandler.self, from: backend)
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
    private func respondLocally(_ exchange: Exchange, status: Int, message: String) {
        exchange.discarding = true
        exchange.responseStarted = true
        exchange.responseEnded = true
        if !exchange.requestEnded && exchange.head.framing == .none {
            exchange.pendingLocalResponse = (status, message)
            return
        }
        writeLocalResponse(exchange, status: status, message: message)
    }

    private func writeLocalResponse(_ exchange: Exchange, status: Int, message: String) {
        guard let context else { return }
        let close = !exchange.keepAlive || !exchange.requestEnded
        if close { exchange.keepAlive = false }
        stats?.countResponse(status: status)
        stats?.recordRequest(startedAt: exchange.startedAt)
        let response = LocalResponse.bytes(status: status, message: message, minorVersion: exchange.head.minorVersion,
                                           requestID: exchange.requestID, close: close,
                                           includeBody: !exchange.head.isHEAD, allocator: context.channel.allocator)
        exchange.responseStatus = status
        exchange.responseBytes = response.bodyBytes
        context.write(wrapOutboundOut(response.bytes), promise: nil)
        logAccess(exchange)
        flushResponse(closing: close, context: context)
        if exchange.requestEnded { finishExchange(exchange, now: .now()) }
    }

    /// Flushes what was written for the response; a connection that ends with it is closed once
    /// the bytes are out.
    private func flushResponse(closing: Bool, context: ChannelHandlerContext) {
        clientFlushPending = false
        writeHeldResponseHead(context: context)
        guard closing else {
            context.flush()
            return
        }
        self.closing = true
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
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
        guard !closing, let context else { return }
        if reader.isIdle {
            deadline?.becomeIdle(now: now)
        } else {
            deadline?.awaitHead(now: now)
            processRequests(context: context)
        }
        resumeClientReads()
    }

    private func abortExchange() {
        heldResponseHead = nil
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
