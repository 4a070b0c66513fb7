import NIOCore

/// The one timer of a client connection: a client has `headTimeout` to deliver a complete
/// request head from its first byte (or from connecting), may pause for at most `bodyTimeout`
/// while it sends a request body it announced, and may sit idle between requests for
/// `idleTimeout`. While a request is otherwise being served, none applies.
///
/// A pending timer is kept as long as it fires no later than the current deadline; when it fires
/// early it re-arms itself for the deadline. So a busy keep-alive connection schedules about one
/// timer per timeout period, not one per request. Used on one event loop only.
final class ConnectionDeadline {
    enum Phase {
        /// Waiting for a request head to complete; the client gets `408` past the deadline.
        case awaitingHead
        /// Reading a request body; past the deadline (no body byte for `bodyTimeout`) the client
        /// is cut off.
        case awaitingBody
        /// Between requests; the connection is closed past the deadline.
        case idle
        /// A request is being served.
        case busy
    }

    private(set) var phase = Phase.busy
    private var due = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    /// When the pending timer fires.
    private var armedFor = NIODeadline.distantFuture
    private var headTimeout: TimeAmount
    private var bodyTimeout: TimeAmount
    private var idleTimeout: TimeAmount?
    private let eventLoop: EventLoop
    private let expired: (Phase) -> Void

    /// `expired` is called on the event loop with the phase whose deadline passed.
    init(headTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount?, eventLoop: EventLoop,
         expired: @escaping (Phase) -> Void) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.eventLoop = eventLoop
        self.expired = expired
    }

    /// New timeouts for the phases that begin from now on (a reload's, between requests); the
    /// deadline already set stays.
    func update(headTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount?) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }

    /// The first byte of a head arrived (or the connection opened) at `now`.
    func awaitHead(now: NIODeadline) {
        phase = .awaitingHead
        due = now + headTimeout
        armIfNeeded()
    }

    /// A head arrived: the request is being served.
    func becomeBusy() { phase = .busy }

    /// A head that announced a body was read at `now`; its body is awaited.
    func awaitBody(now: NIODeadline) {
        phase = .awaitingBody
        due = now + bodyTimeout
        armIfNeeded()
    }

    /// Body bytes arrived at `now`: the body deadline moves on (the pending timer re-arms itself
    /// when it fires early, so this is a store, not a new timer).
    @inline(__always)
    func bodyArrived(now: NIODeadline) {
        if phase == .awaitingBody { due = now + bodyTimeout }
    }

    /// A request was answered at `now` and nothing of the next one arrived yet.
    func becomeIdle(now: NIODeadline) {
        guard let idleTimeout else {
            phase = .busy
            return
        }
        phase = .idle
        due = now + idleTimeout
        armIfNeeded()
    }

    func cancel() {
        phase = .busy
        timer?.cancel()
        timer = nil
    }

    private func armIfNeeded() {
        if timer != nil {
            guard armedFor > due else { return }
            timer?.cancel()
        }
        armedFor = due
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            timer = nil
            guard phase != .busy else { return }
            if NIODeadline.now() < due {
                armIfNeeded()
                return
            }
            expired(phase)
        }
    }
}
