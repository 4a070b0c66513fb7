import NIOCore

// The backend's side: its answer relayed to the client, a failed connection, an upgrade.
extension ProxyHandler: UpstreamDelegate {
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
        shared.outliers?.answered(exchange.backend, status: head.status, requestID: exchange.requestID,
                                  attempt: exchange.tries.attempt)
        stats?.countResponse(status: head.status)
        exchange.backend.stats.countResponse(status: head.status)
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
        guard let context, relay.flushIsDue else { return }
        flushResponse(context: context)
    }

    /// Writes the held response head, if any, and flushes.
    func flushResponse(context: ChannelHandlerContext) {
        if let head = relay.flush() { context.write(wrapOutboundOut(head), promise: nil) }
        context.flush()
    }

    /// Writes the held response head, if any, flushes, and closes the connection once everything
    /// written is out.
    func flushResponseAndClose(context: ChannelHandlerContext) {
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
        exchange.backend.stats.recordLatency(from: exchange.tryStartedAt, to: endedAt)
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

    /// Sends the backend's `101` on to the client; the tunnel starts at the response's end.
    func switchProtocols(_ exchange: Exchange, head: ResponseHead, context: ChannelHandlerContext) {
        state.switchingProtocols()
        exchange.responseStatus = 101
        stats?.countResponse(status: 101)
        exchange.backend.stats.countResponse(status: 101)
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 160)
        head.writeForwarded(into: &buffer, options: .init(clientMinorVersion: exchange.head.minorVersion, keepAlive: true,
                                                          removeChunking: false, requestID: exchange.requestID))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Joins the client and backend connections into a tunnel (see `TunnelHandler.join`); this
    /// handler leaves the client's pipeline.
    func startTunnel(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let connection = exchange.upstream else { return }
        exchange.upstream = nil
        endTry(exchange)
        let now = NIODeadline.now()
        stats?.recordRequest(startedAt: exchange.startedAt, endedAt: now)
        exchange.backend.stats.recordLatency(from: exchange.tryStartedAt, to: now)
        logAccess(exchange)
        self.exchange = nil
        deadline?.cancel()
        TunnelHandler.join(client: context, clientBytes: reader.takeBuffered(), backend: connection,
                           idleTimeout: settings.tunnelIdleTimeout)
    }
}
