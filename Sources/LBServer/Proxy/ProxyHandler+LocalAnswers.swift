import LBStore
import NIOCore

// Answers of the proxy's own: refusals, deadlines, and the 502/503/504 of a request no backend served.
extension ProxyHandler {
    /// Answers a request whose bytes were refused (RFC 9110's status for the fault) and closes:
    /// the framing of whatever follows cannot be trusted. It never reaches a backend.
    /// A refused `HEAD` (as far as its request line tells) gets its answer without a body, as any
    /// answer to HEAD must be: a client that read the method would take the body for a response.
    func refuse(_ error: HeadError, context: ChannelHandlerContext, requestWasHEAD: Bool) {
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
    func answerAndClose(status: Int, message: String, includeBody: Bool = true, context: ChannelHandlerContext) {
        stats?.countResponse(status: status)
        let response = LocalResponse.bytes(status: status, message: message, requestID: nil, close: true,
                                           includeBody: includeBody, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(response.bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func deadlinePassed(_ phase: ConnectionDeadline.Phase) {
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
    func bodyTimedOut(_ exchange: Exchange, context: ChannelHandlerContext) {
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

    /// Answers the request with the proxy's own short text, now or once the request's end has
    /// arrived, as `ProxyConnectionState.answerLocally` decides.
    func respondLocally(_ exchange: Exchange, _ answer: LocalAnswer) {
        switch state.answerLocally(answer, requestHasBody: exchange.head.framing != .none) {
        case .holdUntilRequestEnds:
            return
        case .send(let close):
            writeLocalResponse(exchange, answer, close: close)
        }
    }

    /// Writes a local answer; the exchange is over with it (the connection closes after it when
    /// `close`, else the next request may start).
    func writeLocalResponse(_ exchange: Exchange, _ answer: LocalAnswer, close: Bool) {
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
}
