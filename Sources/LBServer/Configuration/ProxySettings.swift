import NIOCore

/// The numbers that govern how a request is forwarded, retried and timed out.
struct ProxySettings: Sendable {
    /// Extra tries of the same backend after a transport failure (the seed's 3).
    var retriesPerBackend = 3
    /// Pause before each retry of the same backend (the seed's 10 ms).
    var retryDelay: TimeAmount = .milliseconds(10)
    /// Distinct backends tried for one request before giving up (the seed's 3).
    var maximumAttempts = 3
    var connectTimeout: TimeAmount = .seconds(2)
    /// Longest wait for a backend's response head once the request is sent.
    var responseTimeout: TimeAmount = .seconds(60)
    /// A request body up to this size is kept so the request can be repeated on a failure.
    var replayBufferBytes = 64 * 1024
    /// Idle keep-alive connections kept per backend and event loop. Enough for the requests a
    /// loop has in flight at once (HTTP/2 clients bring up to 100 each), or each request past it
    /// opens a connection and closes it after.
    var idleConnectionsPerBackend = 512
    /// An idle upstream connection older than this is closed rather than reused.
    var upstreamIdleTimeout: TimeAmount = .seconds(30)
    /// A client connection idle this long between requests is closed.
    var clientIdleTimeout: TimeAmount = .seconds(75)
    /// Longest request target accepted; longer gets `414`.
    var maxRequestLineBytes = 8 * 1024
    /// Largest request header block accepted (names and values); larger gets `431`. NIO's parser
    /// refuses anything over 80 KiB on its own, also with `431`.
    var maxHeaderBytes = 32 * 1024
    /// Most request header fields accepted; more gets `431`.
    var maxHeaders = 100
    /// Time a client has to deliver a complete request head; slower gets `408`.
    var headerTimeout: TimeAmount = .seconds(10)
    /// Longest pause a client may make while sending a request body it announced; past it the
    /// client gets `408` (or, once the answer began, a closed connection).
    var bodyTimeout: TimeAmount = .seconds(60)
    /// A tunnel (an upgraded connection) in which nothing moved either way this long is closed.
    var tunnelIdleTimeout: TimeAmount = .seconds(3_600)
    /// Protocols a client may switch to through the proxy (lower-cased `Upgrade` names); `h2c`
    /// is never among them.
    var upgradeProtocols: [String] = ["websocket"]
    /// Client connections open at once; more are closed as they arrive.
    var maxConnections = 10_000
}

/// How backends are probed.
struct HealthSettings: Sendable {
    enum Probe: Sendable, Equatable {
        /// Connect and close, as the seed did.
        case tcp
        /// `GET path`; a 2xx answer passes.
        case http(path: String)
    }

    var probe: Probe = .tcp
    /// Time between checks of a backend that is up (the seed's 20 s).
    var interval: TimeAmount = .seconds(20)
    /// Time between checks of a backend that is down, so it returns quickly.
    var downInterval: TimeAmount = .seconds(2)
    var timeout: TimeAmount = .seconds(2)
    /// Consecutive passes that bring a down backend up.
    var rise = 1
    /// Consecutive failures that take an up backend down.
    var fall = 1
}

/// Passive outlier detection: what the proxy's own tries say about a backend, beside the checks.
/// A backend that fails `consecutiveFailures` tries in a row (no other answer between, each within
/// `window` of the one before) is ejected: taken down for `baseEjection` times its number of recent ejections, at
/// most `maxEjection`, and no check brings it back before that. At most `maxEjectedPercent` of the
/// enabled backends are ejected at once.
struct OutlierSettings: Sendable, Equatable {
    /// Failed tries in a row that eject; nil: outlier detection is off.
    var consecutiveFailures: Int? = 5
    /// Whether a 5xx answer counts as a failed try (off: only transport failures, timeouts and
    /// invalid answers do, since a 5xx may be the request's own doing).
    var countsServerErrors = false
    /// A failure more than this after the one before starts a new count: old failures do not add
    /// up with new ones. Longer than the response timeout, so that a backend that hangs every
    /// request, tried one request at a time, is still counted.
    var window: TimeAmount = .seconds(120)
    /// The first ejection's length; the n-th recent one lasts n times it.
    var baseEjection: TimeAmount = .seconds(30)
    /// The longest an ejection lasts; also how long a backend must go without one for its count
    /// of recent ejections to drop by one.
    var maxEjection: TimeAmount = .seconds(300)
    /// The largest share of the enabled backends ejected at once, in percent (rounded down, so
    /// with the default 50 the only backend is never ejected).
    var maxEjectedPercent = 50

    var isEnabled: Bool { consecutiveFailures != nil }
}
