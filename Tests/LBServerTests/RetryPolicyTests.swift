import LBStore
import Testing
@testable import LBServer

/// `RetryPolicy` as a plain value: what follows a failed try, for each kind of failure and each
/// state of the request's tries.
@Suite struct RetryPolicyTests {
    static let policy = RetryPolicy(retriesPerBackend: 3, maximumAttempts: 3)

    static func failure(_ kind: UpstreamError.Kind, reused: Bool = false, replayable: Bool = true,
                        repeatable: Bool = true, alive: Bool = true) -> RetryPolicy.Failure {
        RetryPolicy.Failure(kind: kind, onReusedConnection: reused, bodyReplayable: replayable,
                            requestRepeatable: repeatable, backendAlive: alive)
    }

    @Test func aReusedConnectionClosedUnderUsIsReconnectedOnceWhateverTheMethod() {
        var record = TryRecord()
        #expect(Self.policy.decide(Self.failure(.reset, reused: true, repeatable: false), record: record) == .reconnect)
        record.retriedStaleConnection = true
        #expect(Self.policy.decide(Self.failure(.reset, reused: true, repeatable: false), record: record)
                == .answerNotRepeatable(status: 502))
        // Without the body at hand there is nothing to send again.
        #expect(Self.policy.decide(Self.failure(.reset, reused: true, replayable: false), record: TryRecord())
                == .answerNotRepeatable(status: 502))
    }

    @Test func theSeedsRuleRetriesTheSameBackendThenMovesOn() {
        var record = TryRecord()
        for _ in 0..<3 {
            #expect(Self.policy.decide(Self.failure(.reset), record: record) == .retrySameBackend)
            record.beginRetry()
        }
        #expect(Self.policy.decide(Self.failure(.reset), record: record) == .tryAnotherBackend(statusIfNone: 503))
        // A backend already marked down by someone else gets no more retries.
        #expect(Self.policy.decide(Self.failure(.connect, alive: false), record: TryRecord())
                == .tryAnotherBackend(statusIfNone: 503))
    }

    @Test func aTimeoutIsNeverWaitedOutTwiceOnOneBackendAndAnswers504() {
        #expect(Self.policy.decide(Self.failure(.timeout), record: TryRecord()) == .tryAnotherBackend(statusIfNone: 504))
        #expect(Self.policy.decide(Self.failure(.timeout, repeatable: false), record: TryRecord())
                == .answerNotRepeatable(status: 504))
    }

    @Test func aRequestThatMayHaveReachedTheBackendIsRepeatedOnlyWhenSafe() {
        // A connect failure: nothing reached the backend, any method may go again.
        #expect(Self.policy.decide(Self.failure(.connect, repeatable: false), record: TryRecord()) == .retrySameBackend)
        #expect(Self.policy.decide(Self.failure(.reset, repeatable: false), record: TryRecord())
                == .answerNotRepeatable(status: 502))
        #expect(Self.policy.decide(Self.failure(.connect, replayable: false), record: TryRecord())
                == .answerNotRepeatable(status: 502))
    }

    @Test func anInvalidResponseIsAnswered502AtOnce() {
        #expect(Self.policy.decide(Self.failure(.protocolViolation), record: TryRecord()) == .answerInvalidResponse)
    }

    @Test func theSameFailureOnASecondBackendPointsAtTheRequest() {
        var record = TryRecord()
        record.recordFailure(.reset, evidence: Evidence(at: .now(), source: .request, error: "reset"))
        record.giveUp(on: 1)
        record.moveToNextBackend()
        #expect(Self.policy.decide(Self.failure(.reset), record: record) == .answerSuspectedRequest)
        // Connect failures say nothing about the request.
        #expect(Self.policy.decide(Self.failure(.connect), record: record) == .retrySameBackend)
        #expect(record.tried == [1] && record.attempt == 2 && record.retries == 0 && record.failuresOnBackend.isEmpty)
    }

    @Test func attemptsBoundTheBackendsTried() {
        var record = TryRecord()
        for id in 1...3 {
            #expect(Self.policy.mayTryAnotherBackend(record))
            record.giveUp(on: Int64(id))
        }
        #expect(!Self.policy.mayTryAnotherBackend(record))
    }
}
