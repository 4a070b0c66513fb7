import LBStore
import NIOCore

/// One client request on its way through the proxy: the client's request as it arrived (every
/// try starts from it again), the replay buffer, and where the tries stand.
///
/// Owned by one `ProxyHandler` and touched only on its event loop.
final class Exchange {
    /// The request exactly as the client sent it; never rewritten in place.
    let head: RequestHead
    let requestID: String
    /// When the read that completed the request head began, for the latency metric and logs.
    let startedAt: NIODeadline
    /// Whether the client connection stays open after this response.
    var keepAlive: Bool

    /// Every body part received, while the total fits the replay buffer; nil once it did not.
    /// For a chunked body these are the payload bytes, re-chunked as they are written.
    var replay: [ByteBuffer]? = []
    var replayBytes = 0
    /// Body parts not yet written to the current upstream connection.
    /// An array rather than a `CircularBuffer`, which would allocate storage for every request.
    var unsent: [ByteBuffer] = []
    var unsentBytes = 0
    var requestEnded = false
    /// The trailer fields the backend gets after a chunked body (see `ChunkedRequestBody`).
    var forwardedTrailers: [UInt8] = []

    var backend: BackendRuntime
    /// Backends given up on for this request, in order.
    var tried: [Int64] = []
    /// The request's hash key for the balancer (only with `--algorithm hash`), kept for retries.
    var balancingKey: BalancingKey?
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
    var upstream: UpstreamConnection?
    /// True while a try counts in its backend's in-flight gauge.
    var tryActive = false
    var retriedStaleConnection = false

    /// The protocol a client asked to switch to (`Upgrade`, with `Connection: upgrade`); the
    /// request is forwarded with both, and a `101` answer turns the connection into a tunnel.
    var upgrade: String?
    /// The backend answered `101`: at its end the two connections become a tunnel.
    var switchingProtocols = false
    var responseStarted = false
    /// The status sent to the client and the body bytes written so far, for the access log.
    var responseStatus = 0
    var responseBytes = 0
    var responseEnded = false
    var upstreamKeepAlive = true
    /// The answer was decided (a response ended or a local error was sent); further request body
    /// parts are read and dropped.
    var discarding = false
    /// A local error answer decided before the request's end arrived, sent when it does.
    var pendingLocalResponse: (status: Int, message: String)?

    init(head: RequestHead, requestID: String, backend: BackendRuntime, startedAt: NIODeadline) {
        self.head = head
        self.startedAt = startedAt
        self.requestID = requestID
        self.backend = backend
        self.keepAlive = head.keepAlive
    }

    /// Whether the body is framed chunked on its way to the backend.
    var isChunked: Bool { head.framing == .chunked }

    /// Whether the request may be sent again after a failure: the whole body is still at hand,
    /// and either nothing reached the backend (a connect failure) or repeating it is safe (an
    /// idempotent method or an `Idempotency-Key`, RFC 9110 §9.2.2).
    func canRepeat(afterConnectFailure: Bool) -> Bool {
        replay != nil && (afterConnectFailure || head.isRepeatable)
    }

    /// Why the request is not sent again after a failure, for the record.
    var whyNotRepeated: String {
        if replay == nil { return "its body outgrew the replay buffer" }
        return "\(head.method) is not idempotent, carries no Idempotency-Key, and may have reached the backend"
    }

    /// Queues the whole body received so far for the next try.
    func rewindBody() {
        unsent = replay ?? []
        unsentBytes = replayBytes
    }
}
