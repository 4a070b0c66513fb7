import LBStore
import NIOCore

/// One client request on its way through the proxy: the client's request as it arrived (every
/// try starts from it again), the replay buffer, and where the tries stand. How far the request
/// and its answer have come is `ProxyConnectionState`'s.
///
/// Owned by one `ProxyHandler` and touched only on its event loop.
final class Exchange {
    /// The request exactly as the client sent it; never rewritten in place.
    let head: RequestHead
    let requestID: String
    /// When the read that completed the request head began, for the latency metric and logs.
    let startedAt: NIODeadline

    /// Every body part received, while the total fits the replay buffer; nil once it did not.
    /// For a chunked body these are the payload bytes, re-chunked as they are written.
    var replay: [ByteBuffer]? = []
    var replayBytes = 0
    /// Body parts not yet written to the current upstream connection.
    /// An array rather than a `CircularBuffer`, which would allocate storage for every request.
    var unsent: [ByteBuffer] = []
    var unsentBytes = 0
    /// The trailer fields the backend gets after a chunked body (see `ChunkedRequestBody`).
    var forwardedTrailers: [UInt8] = []

    var backend: BackendRuntime
    /// The request's hash key for the balancer (only with `--algorithm hash`), kept for retries.
    var balancingKey: BalancingKey?
    /// How the tries have gone so far.
    var tries = TryRecord()
    var upstream: UpstreamConnection?
    /// True while a try counts in its backend's in-flight gauge.
    var tryActive = false
    /// When the current try started, for its backend's latency: the request's start for the
    /// first, the clock's reading for each later one.
    var tryStartedAt: NIODeadline
    /// Tries started so far.
    var triesStarted = 0

    /// The protocol a client asked to switch to (`Upgrade`, with `Connection: upgrade`); the
    /// request is forwarded with both, and a `101` answer turns the connection into a tunnel.
    var upgrade: String?
    /// The status sent to the client and the body bytes written so far, for the access log.
    var responseStatus = 0
    var responseBytes = 0
    var upstreamKeepAlive = true

    init(head: RequestHead, requestID: String, backend: BackendRuntime, startedAt: NIODeadline) {
        self.head = head
        self.startedAt = startedAt
        self.tryStartedAt = startedAt
        self.requestID = requestID
        self.backend = backend
    }

    /// Whether the body is framed chunked on its way to the backend.
    var isChunked: Bool { head.framing == .chunked }

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
