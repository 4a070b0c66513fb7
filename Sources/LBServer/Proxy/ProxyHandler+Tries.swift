import LBStore
import NIOCore

// Tries: a connection to the chosen backend, the request written to it, and what follows a failed try.
extension ProxyHandler {
    func startTry(_ exchange: Exchange) {
        guard let pool else { return }
        generation &+= 1
        let tryGeneration = generation
        exchange.tryActive = true
        exchange.backend.inFlight.wrappingAdd(1, ordering: .relaxed)
        exchange.backend.stats.countRequest()
        // The first try starts with the request; a later one (after a failure, maybe a delay) now.
        if exchange.triesStarted > 0 { exchange.tryStartedAt = .now() }
        exchange.triesStarted += 1
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

    func attach(_ connection: UpstreamConnection, to exchange: Exchange) {
        connection.handler.beginExchange(delegate: self, requestIsHEAD: exchange.head.isHEAD)
        exchange.upstream = connection
        let backend = exchange.backend
        // Room for the usual rewrite in one allocation; writeForwarded grows it if ever needed.
        var head = connection.channel.allocator.buffer(capacity: 2 * exchange.head.bytes.readableBytes + 512)
        exchange.head.writeForwarded(into: &head, pathPrefix: backend.url.pathPrefix, hostHeader: backend.url.hostHeader,
                                     clientAddress: clientAddress, clientScheme: shared.clientScheme,
                                     requestID: exchange.requestID, upgrade: exchange.upgrade)
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

    func endTry(_ exchange: Exchange) {
        if exchange.tryActive {
            exchange.tryActive = false
            exchange.backend.inFlight.wrappingSubtract(1, ordering: .relaxed)
        }
        generation &+= 1
    }

    /// Carries out what follows a failed try: cut the answer short if it began, else what
    /// `RetryPolicy` decides.
    func tryFailed(_ exchange: Exchange, _ error: UpstreamError) {
        let connection = exchange.upstream
        exchange.upstream = nil
        connection?.abandon()
        endTry(exchange)
        let sink = shared.sink
        guard state.tryFailed() == .consultRetryPolicy else {
            let evidence = sink.failure(exchange.backend, requestID: exchange.requestID, attempt: exchange.tries.attempt,
                                        error: "\(error.description) after the response began", via: clientVia(exchange))
            shared.outliers?.tryFailed(exchange.backend, evidence: evidence)
            self.exchange = nil
            context?.close(promise: nil)
            return
        }
        var decision = retryPolicy.decide(
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
        let evidence = sink.failure(exchange.backend, requestID: exchange.requestID, attempt: exchange.tries.attempt,
                                    error: error.description, via: clientVia(exchange))
        exchange.tries.recordFailure(error.kind, evidence: evidence)
        // A failure the request is suspected of says nothing about the backend.
        if decision != .answerSuspectedRequest, let outliers = shared.outliers,
           outliers.tryFailed(exchange.backend, evidence: evidence), decision == .retrySameBackend {
            // Just ejected: not worth another wait on it.
            decision = .tryAnotherBackend(statusIfNone: 503)
        }
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
    func markDownByTraffic(_ exchange: Exchange) {
        let backend = exchange.backend
        guard backend.isAlive else { return }
        let sink = shared.sink
        let evidence = exchange.tries.failuresOnBackend
        let enabled = shared.balancer.current.backends.reduce(0) { $0 + ($1.adminState == .enabled ? 1 : 0) }
        guard shared.trafficMarkDowns.admit(backend.id, enabledBackends: enabled, now: .now(),
                                            ejected: shared.outliers?.ejectedBackends() ?? []) else {
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
                          cause: EventSink.Cause(kind: .traffic,
                                                 summary: "traffic: \(evidence.count) failed "
                                                     + "tries of request \(exchange.requestID)",
                                                 threshold: settings.retriesPerBackend + 1,
                                                 evidence: evidence),
                          requestID: exchange.requestID)
        shared.markedDown(backend)
    }

    /// Writes a part of the request body as the backend gets it: as it arrived for a body of
    /// known length, as one chunk of ours for a chunked one.
    func writeBody(_ part: ByteBuffer, of exchange: Exchange, to connection: UpstreamConnection) {
        guard exchange.isChunked else {
            connection.write(part, now: readStartedAt)
            return
        }
        guard part.readableBytes > 0 else { return }
        connection.write(ChunkedRequestBody.chunk(part, allocator: connection.channel.allocator), now: readStartedAt)
    }

    /// Ends a chunked body on the backend's connection: the last chunk and the trailer fields.
    func writeLastChunk(of exchange: Exchange, to connection: UpstreamConnection) {
        connection.write(ChunkedRequestBody.lastChunk(trailers: exchange.forwardedTrailers,
                                                      allocator: connection.channel.allocator),
                         now: readStartedAt)
    }
}
