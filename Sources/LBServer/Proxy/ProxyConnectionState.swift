/// The phases of one client connection of the proxy, as a value: which request is being served,
/// how far its request and its answer have come, and whether the connection stays open after it.
///
/// `ProxyHandler` feeds it what happened (a request head, the request's end, the backend's answer,
/// a failed try, a deadline, a shutdown) and performs the action each transition returns; the
/// state machine itself does no I/O, so it is tested as a plain value. A transition that cannot
/// happen in the state the machine is in is a bug in the handler and stops with
/// `preconditionFailure`, as NIO's own state machines do.
///
/// ```
///          head                 request end + answer end (keep-alive)
///   idle ────────▶ serving ─────────────────────────────────────────▶ idle
///     │              │  101 answer ended            ╲ refusal, timeout, a closing answer,
///     │              └──────────────▶ tunnelled      ╲ cut-short answer, client gone
///     └─ quiesce, head timeout ───────────────────────▶ closing
/// ```
struct ProxyConnectionState {
    /// How far the client's request has arrived.
    enum RequestPhase: Equatable {
        /// The head is in; body parts (if any) and the end are still coming.
        case receiving
        /// The whole request, body and trailers, has been read.
        case ended
    }

    /// How far the answer to the request has come.
    enum ResponsePhase: Equatable {
        /// No answer yet: a try is running or a retry is scheduled.
        case awaiting
        /// The proxy's own answer is decided and waits for the end of a request without a body,
        /// so that the connection stays usable.
        case localAnswerPending(LocalAnswer)
        /// The backend's answer is being relayed to the client.
        case relaying
        /// The backend's `101` is with the client; at its end the connection becomes a tunnel.
        case switchingProtocols
        /// The answer is out; what remains of the request body is read and dropped.
        case complete

        /// Whether the client has received (or is receiving) an answer.
        var hasStarted: Bool {
            switch self {
            case .awaiting: false
            case .localAnswerPending, .relaying, .switchingProtocols, .complete: true
            }
        }
    }

    /// One request in progress.
    struct Serving: Equatable {
        var request: RequestPhase
        var response: ResponsePhase
        /// Whether the connection stays open after this answer.
        var keepAlive: Bool
    }

    enum State: Equatable {
        /// No request in progress; the reader may hold the start of the next one.
        case idle
        case serving(Serving)
        /// A close is under way (a refusal, a deadline, an answer that ends the connection, the
        /// client gone, shutdown): nothing more is read or answered.
        case closing
        /// The connection became a byte tunnel; the proxy handler has left the pipeline.
        case tunnelled
    }

    private(set) var state: State
    /// The server is shutting down: every answer from now on closes its connection.
    private(set) var quiescing: Bool

    /// A new connection: idle, or `state` for a test that starts from there.
    init(state: State = .idle, quiescing: Bool = false) {
        self.state = state
        self.quiescing = quiescing
    }

    /// Whether nothing more is read or answered on this connection.
    var isClosing: Bool {
        switch state {
        case .closing, .tunnelled: true
        case .idle, .serving: false
        }
    }

    /// The request in progress, if any.
    var serving: Serving? {
        if case .serving(let serving) = state { return serving }
        return nil
    }

    /// Whether a request's whole request has been read (nothing more of it is expected).
    var requestHasEnded: Bool { serving?.request == .ended }

    /// Whether the client has an answer under way for the request in progress.
    var responseHasStarted: Bool { serving?.response.hasStarted ?? false }

    // MARK: The client's request

    /// A request head was read and accepted. The connection stays open after it if the client
    /// asked so (`keepAlive`) and the server is not shutting down.
    mutating func requestHeadArrived(keepAlive: Bool) {
        guard case .idle = state else {
            preconditionFailure("a request head arrived in state \(state)")
        }
        state = .serving(Serving(request: .receiving, response: .awaiting, keepAlive: keepAlive && !quiescing))
    }

    /// What to do with a part of the request body.
    enum BodyAction: Equatable {
        /// Forward it to the backend (or queue it until a connection is there).
        case forward
        /// The answer is decided: read it and drop it.
        case drop
    }

    mutating func requestBodyArrived() -> BodyAction {
        guard case .serving(let serving) = state, serving.request == .receiving else {
            preconditionFailure("a request body arrived in state \(state)")
        }
        switch serving.response {
        case .awaiting, .relaying, .switchingProtocols: return .forward
        case .localAnswerPending, .complete: return .drop
        }
    }

    /// What to do once the whole request has been read.
    enum RequestEndAction: Equatable {
        /// End the request on the backend's connection (a chunked body's last chunk) and flush.
        case endUpstreamRequest
        /// Send the proxy's answer that waited for this end; `close` ends the connection after it.
        case sendLocalAnswer(LocalAnswer, close: Bool)
        /// The answer went out before the request finished arriving: the exchange is over and
        /// the connection is idle.
        case exchangeComplete
        /// The answer went out before the request finished arriving, and shutdown began since:
        /// the exchange is over and the connection closes.
        case closeConnection
    }

    mutating func requestEnded() -> RequestEndAction {
        guard case .serving(var serving) = state, serving.request == .receiving else {
            preconditionFailure("a request ended in state \(state)")
        }
        switch serving.response {
        case .awaiting, .relaying, .switchingProtocols:
            serving.request = .ended
            state = .serving(serving)
            return .endUpstreamRequest
        case .localAnswerPending(let answer):
            state = serving.keepAlive ? .idle : .closing
            return .sendLocalAnswer(answer, close: !serving.keepAlive)
        case .complete:
            // An answer that closed the connection put it in `closing` already; one that did not
            // may have been told to since (shutdown).
            guard serving.keepAlive else {
                state = .closing
                return .closeConnection
            }
            state = .idle
            return .exchangeComplete
        }
    }

    // MARK: The backend's answer

    /// Whether an interim (1xx) answer may still go to the client: the final one has not begun.
    var acceptsInterimResponse: Bool { serving?.response == .awaiting }

    /// The backend's final answer begins. `connectionReusable` is false when the answer cannot
    /// leave the client's connection usable (framed by the close, a refused upgrade, chunks
    /// removed for an HTTP/1.0 client). Returns whether the connection stays open after it.
    mutating func responseHeadArrived(connectionReusable: Bool) -> Bool {
        guard case .serving(var serving) = state, serving.response == .awaiting else {
            preconditionFailure("a response head arrived in state \(state)")
        }
        serving.response = .relaying
        serving.keepAlive = serving.keepAlive && connectionReusable
        state = .serving(serving)
        return serving.keepAlive
    }

    /// The backend accepted the upgrade with a `101` that goes on to the client.
    mutating func switchingProtocols() {
        guard case .serving(var serving) = state, serving.response == .awaiting else {
            preconditionFailure("a 101 arrived in state \(state)")
        }
        serving.response = .switchingProtocols
        state = .serving(serving)
    }

    /// What to do when the backend's answer has ended.
    enum ResponseEndAction: Equatable {
        /// Join the two connections into a tunnel (after a `101`).
        case startTunnel
        /// Flush the answer and close the connection once it is out.
        case flushAndClose
        /// Flush the answer; the request had ended too, so the next one may start.
        case flushAndCompleteExchange
        /// Flush the answer; the rest of the request body is read and dropped.
        case flushAndDropRestOfRequest
    }

    mutating func responseEnded() -> ResponseEndAction {
        guard case .serving(var serving) = state else {
            preconditionFailure("a response ended in state \(state)")
        }
        switch serving.response {
        case .switchingProtocols:
            state = .tunnelled
            return .startTunnel
        case .relaying:
            if !serving.keepAlive {
                state = .closing
                return .flushAndClose
            }
            if serving.request == .ended {
                state = .idle
                return .flushAndCompleteExchange
            }
            serving.response = .complete
            state = .serving(serving)
            return .flushAndDropRestOfRequest
        case .awaiting, .localAnswerPending, .complete:
            preconditionFailure("a response ended in state \(state)")
        }
    }

    /// What to do when a try failed.
    enum TryFailureAction: Equatable {
        /// Nothing went to the client yet: the retry policy decides what comes next.
        case consultRetryPolicy
        /// Part of the answer is already with the client: it can only be cut short.
        case closeConnection
    }

    mutating func tryFailed() -> TryFailureAction {
        guard case .serving(let serving) = state else {
            preconditionFailure("a try failed in state \(state)")
        }
        switch serving.response {
        case .awaiting:
            return .consultRetryPolicy
        case .relaying, .switchingProtocols:
            state = .closing
            return .closeConnection
        case .localAnswerPending, .complete:
            preconditionFailure("a try failed in state \(state)")
        }
    }

    // MARK: The proxy's own answers

    /// What to do with an answer of the proxy's own (`502`, `503`, `504`).
    enum LocalAnswerAction: Equatable {
        /// Hold it until the request's end has been read.
        case holdUntilRequestEnds
        /// Send it now; `close` ends the connection after it, and when the connection stays
        /// open the exchange is complete.
        case send(close: Bool)
    }

    /// The proxy answers the request itself. A request without a body is answered once its end
    /// has arrived, so the connection stays usable; one whose body is still coming is answered
    /// at once and the connection closed, rather than reading a body nobody wants.
    mutating func answerLocally(_ answer: LocalAnswer, requestHasBody: Bool) -> LocalAnswerAction {
        guard case .serving(var serving) = state, serving.response == .awaiting else {
            preconditionFailure("a local answer in state \(state)")
        }
        if serving.request == .receiving && !requestHasBody {
            serving.response = .localAnswerPending(answer)
            state = .serving(serving)
            return .holdUntilRequestEnds
        }
        let close = !serving.keepAlive || serving.request == .receiving
        state = close ? .closing : .idle
        return .send(close: close)
    }

    // MARK: Refusals, deadlines, shutdown

    /// What to do when the connection must end early (a refused request, a deadline).
    enum RefusalAction: Equatable {
        /// Send the proxy's error answer, then close.
        case answerAndClose
        /// An answer is already under way: close without another.
        case close
        /// Nothing to do: the connection is already closing or the deadline is stale.
        case none
    }

    /// The client's bytes cannot be read as a request: answered (if no answer began) and closed,
    /// since the framing of whatever follows cannot be trusted.
    mutating func refuse() -> RefusalAction {
        switch state {
        case .idle:
            state = .closing
            return .answerAndClose
        case .serving(let serving):
            state = .closing
            return serving.response.hasStarted ? .close : .answerAndClose
        case .closing, .tunnelled:
            preconditionFailure("a refusal in state \(state)")
        }
    }

    /// The client did not complete a request head in time (`awaitingHead`) or sat idle too long.
    mutating func headOrIdleDeadlinePassed(awaitingHead: Bool) -> RefusalAction {
        guard case .idle = state else { return .none }
        state = .closing
        return awaitingHead ? .answerAndClose : .close
    }

    /// The client paused too long while sending a body it announced.
    mutating func bodyDeadlinePassed() -> RefusalAction {
        guard case .serving(let serving) = state, serving.request == .receiving else { return .none }
        state = .closing
        return serving.response.hasStarted ? .close : .answerAndClose
    }

    /// What to do when the server starts shutting down.
    enum QuiesceAction: Equatable {
        /// Idle: stay open a moment for a request the client may have sent already (answered with
        /// `Connection: close`), then close (`lingerEnded`). Closing at once would lose such a
        /// request, which the client sees as a reset, as HAProxy's `idle-close-on-response` knows.
        case lingerThenClose
        /// Finish the request in progress, then close (its answer says so if it has not begun).
        case closeAfterThisRequest
        case none
    }

    mutating func quiesce() -> QuiesceAction {
        quiescing = true
        switch state {
        case .idle:
            return .lingerThenClose
        case .serving(var serving):
            serving.keepAlive = false
            state = .serving(serving)
            return .closeAfterThisRequest
        case .closing, .tunnelled:
            return .none
        }
    }

    /// The linger after the shutdown began is over: true when the connection is still idle and
    /// closes now (one whose request arrived meanwhile closes after its answer).
    mutating func lingerEnded() -> Bool {
        guard quiescing, case .idle = state else { return false }
        state = .closing
        return true
    }

    /// The client left or the connection failed: whatever was in progress is abandoned.
    mutating func connectionLost() {
        if case .tunnelled = state { return }
        state = .closing
    }
}

/// An answer of the proxy's own: its status and the line of text that says why.
struct LocalAnswer: Equatable, Sendable {
    let status: Int
    let message: String
}
