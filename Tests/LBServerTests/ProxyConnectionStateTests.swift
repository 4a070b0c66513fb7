import Testing
@testable import LBServer

/// `ProxyConnectionState` as a plain value: each transition's action, every state reachable from
/// a new connection through every event the handler may feed it, the invariants along the way,
/// and a stop on transitions that cannot happen.
@Suite struct ProxyConnectionStateTests {
    typealias Machine = ProxyConnectionState
    static let answer = LocalAnswer(status: 503, message: "no backend available")

    static func serving(_ request: Machine.RequestPhase, _ response: Machine.ResponsePhase,
                        keepAlive: Bool = true) -> Machine.State {
        .serving(Machine.Serving(request: request, response: response, keepAlive: keepAlive))
    }

    // MARK: Transitions and their actions

    @Test func aKeptAliveExchangeEndsIdleWhicheverSideEndsLast() {
        var requestFirst = Machine()
        requestFirst.requestHeadArrived(keepAlive: true)
        #expect(requestFirst.requestEnded() == .endUpstreamRequest)
        #expect(requestFirst.responseHeadArrived(connectionReusable: true) == true)
        #expect(requestFirst.responseEnded() == .flushAndCompleteExchange)
        #expect(requestFirst.state == .idle)

        var responseFirst = Machine()
        responseFirst.requestHeadArrived(keepAlive: true)
        #expect(responseFirst.responseHeadArrived(connectionReusable: true) == true)
        #expect(responseFirst.responseEnded() == .flushAndDropRestOfRequest)
        #expect(responseFirst.requestBodyArrived() == .drop)
        #expect(responseFirst.requestEnded() == .exchangeComplete)
        #expect(responseFirst.state == .idle)
    }

    @Test func anAnswerThatCannotKeepTheConnectionClosesIt() {
        for (clientKeepsAlive, reusable) in [(false, true), (true, false)] {
            var machine = Machine()
            machine.requestHeadArrived(keepAlive: clientKeepsAlive)
            _ = machine.requestEnded()
            #expect(machine.responseHeadArrived(connectionReusable: reusable) == false)
            #expect(machine.responseEnded() == .flushAndClose)
            #expect(machine.state == .closing)
        }
    }

    @Test func aLocalAnswerWaitsForTheEndOfARequestWithoutBodyAndClosesOneWhoseBodyIsComing() {
        var withoutBody = Machine()
        withoutBody.requestHeadArrived(keepAlive: true)
        #expect(withoutBody.answerLocally(Self.answer, requestHasBody: false) == .holdUntilRequestEnds)
        #expect(withoutBody.responseHasStarted)
        #expect(withoutBody.requestEnded() == .sendLocalAnswer(Self.answer, close: false))
        #expect(withoutBody.state == .idle)

        var withBody = Machine()
        withBody.requestHeadArrived(keepAlive: true)
        #expect(withBody.answerLocally(Self.answer, requestHasBody: true) == .send(close: true))
        #expect(withBody.state == .closing)

        var afterTheEnd = Machine()
        afterTheEnd.requestHeadArrived(keepAlive: true)
        _ = afterTheEnd.requestEnded()
        #expect(afterTheEnd.answerLocally(Self.answer, requestHasBody: true) == .send(close: false))
        #expect(afterTheEnd.state == .idle)
    }

    @Test func aFailedTryIsTheRetryPolicysUntilTheAnswerBeganAndThenCutsTheConnection() {
        var before = Machine(state: Self.serving(.ended, .awaiting))
        #expect(before.tryFailed() == .consultRetryPolicy)
        #expect(before.state == Self.serving(.ended, .awaiting))
        for response in [Machine.ResponsePhase.relaying, .switchingProtocols] {
            var after = Machine(state: Self.serving(.ended, response))
            #expect(after.tryFailed() == .closeConnection)
            #expect(after.state == .closing)
        }
    }

    @Test func anUpgradeEndsInATunnel() {
        var machine = Machine()
        machine.requestHeadArrived(keepAlive: true)
        _ = machine.requestEnded()
        machine.switchingProtocols()
        #expect(!machine.acceptsInterimResponse)
        #expect(machine.responseEnded() == .startTunnel)
        #expect(machine.state == .tunnelled)
        #expect(machine.isClosing)
    }

    /// What `event` returns in `state`.
    static func action(in state: Machine.State = .idle,
                       _ event: (inout Machine) -> Machine.RefusalAction) -> Machine.RefusalAction {
        var machine = Machine(state: state)
        return event(&machine)
    }

    @Test func aRefusalOrABodyTimeoutAnswersOnlyWhenNoAnswerBegan() {
        #expect(Self.action { $0.refuse() } == .answerAndClose)
        #expect(Self.action(in: Self.serving(.receiving, .awaiting)) { $0.refuse() } == .answerAndClose)
        #expect(Self.action(in: Self.serving(.receiving, .relaying)) { $0.refuse() } == .close)
        #expect(Self.action(in: Self.serving(.receiving, .awaiting)) { $0.bodyDeadlinePassed() } == .answerAndClose)
        #expect(Self.action(in: Self.serving(.receiving, .complete)) { $0.bodyDeadlinePassed() } == .close)
        // A body deadline that fires once the request has ended, or between requests, is stale.
        #expect(Self.action(in: Self.serving(.ended, .awaiting)) { $0.bodyDeadlinePassed() } == .none)
        #expect(Self.action { $0.bodyDeadlinePassed() } == .none)
    }

    @Test func headAndIdleDeadlinesCountOnlyBetweenRequests() {
        #expect(Self.action { $0.headOrIdleDeadlinePassed(awaitingHead: true) } == .answerAndClose)
        #expect(Self.action { $0.headOrIdleDeadlinePassed(awaitingHead: false) } == .close)
        #expect(Self.action(in: Self.serving(.ended, .awaiting)) { $0.headOrIdleDeadlinePassed(awaitingHead: true) }
                == .none)
    }

    @Test func shutdownClosesAnIdleConnectionAfterALingerAndTheNextAnswerOfABusyOne() {
        var idle = Machine()
        #expect(idle.quiesce() == .lingerThenClose)
        #expect(idle.state == .idle)
        let closes = idle.lingerEnded()
        #expect(closes)
        #expect(idle.state == .closing)

        // A request that arrives during the linger is answered, with the connection's close.
        var lingering = Machine()
        #expect(lingering.quiesce() == .lingerThenClose)
        lingering.requestHeadArrived(keepAlive: true)
        let closesWhileServing = lingering.lingerEnded()
        #expect(!closesWhileServing)
        _ = lingering.requestEnded()
        #expect(lingering.responseHeadArrived(connectionReusable: true) == false)
        #expect(lingering.responseEnded() == .flushAndClose)

        var busy = Machine()
        busy.requestHeadArrived(keepAlive: true)
        #expect(busy.quiesce() == .closeAfterThisRequest)
        _ = busy.requestEnded()
        #expect(busy.responseHeadArrived(connectionReusable: true) == false)
        #expect(busy.responseEnded() == .flushAndClose)

        // Answered before the request finished arriving, then told to shut down: the request's
        // end closes the connection instead of reading the next request.
        var answered = Machine()
        answered.requestHeadArrived(keepAlive: true)
        _ = answered.responseHeadArrived(connectionReusable: true)
        #expect(answered.responseEnded() == .flushAndDropRestOfRequest)
        #expect(answered.quiesce() == .closeAfterThisRequest)
        #expect(answered.requestEnded() == .closeConnection)
        #expect(answered.state == .closing)
    }

    // MARK: Every reachable state

    /// What the handler may feed the machine, and when (its side of the contract).
    enum Event: CaseIterable {
        case head, headClose, body, requestEnd, responseHead, responseHeadNotReusable, switching, responseEnd,
             tryFailed, localAnswerNoBody, localAnswerWithBody, refuse, headDeadline, idleDeadline, bodyDeadline,
             quiesce, lingerEnd, connectionLost

        func isLegal(in state: Machine.State) -> Bool {
            switch (self, state) {
            case (.head, .idle), (.headClose, .idle): return true
            case (.body, .serving(let s)), (.requestEnd, .serving(let s)): return s.request == .receiving
            case (.responseHead, .serving(let s)), (.responseHeadNotReusable, .serving(let s)), (.switching, .serving(let s)),
                 (.localAnswerNoBody, .serving(let s)), (.localAnswerWithBody, .serving(let s)):
                return s.response == .awaiting
            case (.responseEnd, .serving(let s)): return s.response == .relaying || s.response == .switchingProtocols
            case (.tryFailed, .serving(let s)):
                return [.awaiting, .relaying, .switchingProtocols].contains(s.response)
            case (.refuse, .idle), (.refuse, .serving): return true
            case (.headDeadline, _), (.idleDeadline, _), (.bodyDeadline, _), (.quiesce, _), (.lingerEnd, _),
                 (.connectionLost, _): return true
            default: return false
            }
        }

        func apply(to machine: inout Machine) {
            switch self {
            case .head: machine.requestHeadArrived(keepAlive: true)
            case .headClose: machine.requestHeadArrived(keepAlive: false)
            case .body: _ = machine.requestBodyArrived()
            case .requestEnd: _ = machine.requestEnded()
            case .responseHead: _ = machine.responseHeadArrived(connectionReusable: true)
            case .responseHeadNotReusable: _ = machine.responseHeadArrived(connectionReusable: false)
            case .switching: machine.switchingProtocols()
            case .responseEnd: _ = machine.responseEnded()
            case .tryFailed: _ = machine.tryFailed()
            case .localAnswerNoBody: _ = machine.answerLocally(ProxyConnectionStateTests.answer, requestHasBody: false)
            case .localAnswerWithBody: _ = machine.answerLocally(ProxyConnectionStateTests.answer, requestHasBody: true)
            case .refuse: _ = machine.refuse()
            case .headDeadline: _ = machine.headOrIdleDeadlinePassed(awaitingHead: true)
            case .idleDeadline: _ = machine.headOrIdleDeadlinePassed(awaitingHead: false)
            case .bodyDeadline: _ = machine.bodyDeadlinePassed()
            case .quiesce: _ = machine.quiesce()
            case .lingerEnd: _ = machine.lingerEnded()
            case .connectionLost: machine.connectionLost()
            }
        }
    }

    struct Key: Hashable {
        let state: String
        let quiescing: Bool
        init(_ machine: Machine) {
            state = "\(machine.state)"
            quiescing = machine.quiescing
        }
    }

    @Test func everyStateReachableFromANewConnectionKeepsTheInvariants() {
        var seen: Set<Key> = [Key(Machine())]
        var queue = [Machine()]
        var reachedStates: Set<String> = []
        var edges = 0
        while let machine = queue.popLast() {
            reachedStates.insert("\(machine.state)")
            for event in Event.allCases where event.isLegal(in: machine.state) {
                var next = machine
                event.apply(to: &next)
                edges += 1
                check(from: machine, event, to: next)
                if seen.insert(Key(next)).inserted { queue.append(next) }
            }
        }
        // Idle, closing, a tunnel, and each request and answer phase that can meet, kept alive or not.
        var expected: Set<String> = ["\(Machine.State.idle)", "\(Machine.State.closing)", "\(Machine.State.tunnelled)"]
        for keepAlive in [true, false] {
            for response in [Machine.ResponsePhase.awaiting, .relaying, .switchingProtocols] {
                expected.insert("\(Self.serving(.receiving, response, keepAlive: keepAlive))")
                expected.insert("\(Self.serving(.ended, response, keepAlive: keepAlive))")
            }
            expected.insert("\(Self.serving(.receiving, .localAnswerPending(Self.answer), keepAlive: keepAlive))")
            expected.insert("\(Self.serving(.receiving, .complete, keepAlive: keepAlive))")
        }
        #expect(reachedStates == expected)
        #expect(edges > 100)
    }

    private func check(from before: Machine, _ event: Event, to after: Machine,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let what = "\(event) in \(before.state)"
        // Closing and tunnelled are final.
        if before.isClosing { #expect(after.state == before.state, "\(what)", sourceLocation: sourceLocation) }
        // Only the end of an accepted switch makes a tunnel.
        if after.state == .tunnelled && before.state != .tunnelled {
            #expect(event == .responseEnd && before.serving?.response == .switchingProtocols, "\(what)",
                    sourceLocation: sourceLocation)
        }
        // Shutdown is never forgotten, and a connection that is shutting down never goes idle again.
        if before.quiescing { #expect(after.quiescing, "\(what)", sourceLocation: sourceLocation) }
        if after.quiescing {
            // Idle only while lingering after the shutdown began, never idle again after a request.
            if after.state == .idle { #expect(before.state == .idle, "\(what)", sourceLocation: sourceLocation) }
            if event == .lingerEnd, before.state == .idle {
                #expect(after.state == .closing, "\(what)", sourceLocation: sourceLocation)
            }
            if let serving = after.serving { #expect(!serving.keepAlive, "\(what)", sourceLocation: sourceLocation) }
        }
        if let was = before.serving, let now = after.serving {
            // Within one request: a close once decided stays decided, and an answer once begun stays begun.
            if !was.keepAlive { #expect(!now.keepAlive, "\(what)", sourceLocation: sourceLocation) }
            if was.response.hasStarted { #expect(now.response.hasStarted, "\(what)", sourceLocation: sourceLocation) }
            if was.request == .ended { #expect(now.request == .ended, "\(what)", sourceLocation: sourceLocation) }
        }
        // Back to idle only with both the request and its answer complete, on a connection kept alive.
        if after.state == .idle, let was = before.serving {
            #expect(was.keepAlive, "\(what)", sourceLocation: sourceLocation)
            let answered = was.response == .complete || event == .responseEnd || event == .localAnswerNoBody
                || event == .localAnswerWithBody || event == .requestEnd
            let requestDone = was.request == .ended || event == .requestEnd
            #expect(answered && requestDone, "\(what)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Transitions that cannot happen

    @Test func aRequestHeadWhileARequestIsServedStops() async {
        await #expect(processExitsWith: .failure) {
            var machine = ProxyConnectionState(state: .serving(.init(request: .receiving, response: .awaiting, keepAlive: true)))
            machine.requestHeadArrived(keepAlive: true)
        }
    }

    @Test func aResponseEndWithoutAResponseStops() async {
        await #expect(processExitsWith: .failure) {
            var machine = ProxyConnectionState(state: .serving(.init(request: .ended, response: .awaiting, keepAlive: true)))
            _ = machine.responseEnded()
        }
    }

    @Test func aBodyBetweenRequestsStops() async {
        await #expect(processExitsWith: .failure) {
            var machine = ProxyConnectionState()
            _ = machine.requestBodyArrived()
        }
    }
}
