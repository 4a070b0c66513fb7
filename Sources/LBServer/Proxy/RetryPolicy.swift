import LBStore

/// How the tries of one request have gone so far: the seed's counters and the evidence a
/// mark-down or a suspected request of death is recorded with.
struct TryRecord {
    /// Backends given up on for this request, in order.
    var tried: [Int64] = []
    /// The failed tries of the current backend: the evidence if it is marked down.
    var failuresOnBackend: [Evidence] = []
    /// How tries failed on the backends given up on (connect failures aside, which say nothing
    /// about the request): a second backend failing one of these ways points at the request.
    var failureKindsOnEarlierBackends: [UpstreamError.Kind] = []
    /// How tries failed on the current backend.
    var failureKindsOnBackend: [UpstreamError.Kind] = []
    /// Retries of the current backend so far.
    var retries = 0
    /// Number of the current try over all backends, starting at 1, for the event log.
    var attempt = 1
    /// The one reconnect after a reused connection closed under us has been spent.
    var retriedStaleConnection = false

    /// A try failed with `kind`; `evidence` is its record in the event log.
    mutating func recordFailure(_ kind: UpstreamError.Kind, evidence: Evidence) {
        failuresOnBackend.append(evidence)
        if kind != .connect { failureKindsOnBackend.append(kind) }
    }

    /// The same backend once more.
    mutating func beginRetry() {
        retries += 1
        attempt += 1
    }

    /// The current backend (`id`) is given up on.
    mutating func giveUp(on id: Int64) {
        tried.append(id)
        failureKindsOnEarlierBackends += failureKindsOnBackend
        failureKindsOnBackend.removeAll()
    }

    /// The next backend gets its own full set of retries.
    mutating func moveToNextBackend() {
        retries = 0
        failuresOnBackend.removeAll()
        attempt += 1
    }
}

/// What the proxy does after a failed try, before any of the answer reached the client: the
/// seed's rules (the same backend a few times, a little later, then another) made safe (never
/// repeat what must not be repeated, never let one request take out backend after backend).
///
/// A pure decision over plain values; `ProxyHandler` carries it out.
struct RetryPolicy {
    /// Retries of the same backend after a failure (`--retries`).
    let retriesPerBackend: Int
    /// Distinct backends tried for one request (`--attempts`).
    let maximumAttempts: Int

    /// What happened, as far as the decision goes.
    struct Failure {
        let kind: UpstreamError.Kind
        /// The try ran on a kept-alive connection that had served a request before.
        let onReusedConnection: Bool
        /// The whole request body is still at hand (it fit the replay buffer).
        let bodyReplayable: Bool
        /// The method is idempotent or the request carries an `Idempotency-Key`.
        let requestRepeatable: Bool
        /// The current backend is still marked alive.
        let backendAlive: Bool
    }

    enum Decision: Equatable {
        /// A reused connection was closed as we picked it: once more on a fresh one, whatever
        /// the method, without counting a failure.
        case reconnect
        /// The backend's answer broke HTTP: `502`, no retry.
        case answerInvalidResponse
        /// The same failure on a second backend points at the request: `502` before it takes
        /// this backend down too.
        case answerSuspectedRequest
        /// Repeating the request could do its work twice (or its body is gone): `504` after a
        /// timeout, else `502`.
        case answerNotRepeatable(status: Int)
        /// The same backend again after `--retry-delay`.
        case retrySameBackend
        /// The backend is given up on (and marked down by traffic); another one, if any is
        /// left within the attempts, gets the request. `status` answers when none is left.
        case tryAnotherBackend(statusIfNone: Int)
    }

    /// Counts nothing: the caller updates `record` as the decision says.
    func decide(_ failure: Failure, record: TryRecord) -> Decision {
        // A kept-alive connection that the backend closed just as we reused it (the idle-close
        // race: nothing came back) is not the backend's fault, and the request most likely never
        // reached it.
        if failure.onReusedConnection, failure.kind == .reset, !record.retriedStaleConnection, failure.bodyReplayable {
            return .reconnect
        }
        if failure.kind == .protocolViolation { return .answerInvalidResponse }
        if failure.kind != .connect, record.failureKindsOnEarlierBackends.contains(failure.kind) {
            return .answerSuspectedRequest
        }
        // Nothing reached the backend after a connect failure; otherwise only a request that is
        // safe to repeat is sent again.
        guard failure.bodyReplayable && (failure.kind == .connect || failure.requestRepeatable) else {
            return .answerNotRepeatable(status: failure.kind == .timeout ? 504 : 502)
        }
        // A backend that sat on a request for the whole timeout gets no second wait.
        if record.retries < retriesPerBackend, failure.backendAlive, failure.kind != .timeout {
            return .retrySameBackend
        }
        return .tryAnotherBackend(statusIfNone: failure.kind == .timeout ? 504 : 503)
    }

    /// Whether another backend may be tried after `record.tried` were given up on.
    func mayTryAnotherBackend(_ record: TryRecord) -> Bool {
        record.tried.count < maximumAttempts
    }
}
