#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import LBStore
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's control socket as a Service: a Unix socket beside its database (`control_socket`)
/// on which a successor asks for the listening sockets (`lbserver --replace`) and `lbserver reload`
/// asks for a reload and its outcome. Only the daemon's own user and root may connect.
///
/// Listens once `startsAfter` is reached (the daemon serves; a successor's predecessor has let
/// go), until the graceful shutdown or `release`: a daemon that handed over stops answering at
/// once, so its successor can take the path. The socket file is removed at the end unless a
/// successor's has replaced it.
///
/// The requests are served on threads of their own: passing descriptors (`SCM_RIGHTS`) is plain
/// blocking socket I/O that SwiftNIO does not offer, and a handover waits for its successor to
/// start, which takes as long as the successor's restore.
final class ControlService: Service, Sendable {
    /// What the daemon does for each request.
    struct Handlers: Sendable {
        /// The sockets and the fields of the `ok` answer for the successor `pid`, or why not.
        var offer: @Sendable (_ successor: Int32) -> Result<HandoverOffer, ControlRefusal>
        /// The successor is ready: stop accepting (done when this returns), then drain.
        var release: @Sendable (_ successor: Int32) async -> Void
        /// The successor went away before it served: the daemon goes on as before.
        var abandon: @Sendable (_ successor: Int32, _ why: String) -> Void
        /// A reload (the request says whether it may restart by handover: `restart=`), and its
        /// answer (`ok` or `refused`, with the outcome).
        var reload: @Sendable (_ request: ControlMessage) async -> ControlMessage
    }

    /// The successor gets at most this long from the offer to its `release`.
    static let successorStartLimit: Duration = .seconds(300)

    private let path: String
    private let logger: Logger
    private let startsAfter: Milestone<Void>
    private let handlers: Handlers
    /// The listening descriptor while the accept thread runs, -1 otherwise.
    private let listening = Atomic<CInt>(-1)
    /// Set once a successor asked: a second one is refused until the first lets go.
    private let handingOver = Atomic<Int32>(0)
    /// Set by the first `stopListening`.
    private let stopRequested = Atomic<Bool>(false)
    /// Set once a successor took over: the socket path is its own from then on.
    private let released = Atomic<Bool>(false)
    private let acceptEnded = Milestone<Void>()
    /// Requests being served: the service ends only after them, so that a reload's event is
    /// recorded before the event writer closes.
    private let requestsInFlight = Atomic<Int>(0)

    init(path: String, logger: Logger, startsAfter: Milestone<Void>, handlers: Handlers) {
        self.path = path
        self.logger = logger
        self.startsAfter = startsAfter
        self.handlers = handlers
    }

    func run() async {
        guard (try? await startsAfter.value()) != nil else { return }
        let socket: UnixStreamSocket
        do {
            socket = try UnixStreamSocket.listen(path: path)
        } catch {
            logger.warning("no control socket: lbserver --replace and lbserver reload cannot reach this daemon",
                           metadata: ["control_socket": "\(path)", "error": "\(error)"])
            // The daemon serves on without one; a service that ended early would stop the group.
            await shutdownRequested()
            return
        }
        let identity = FileIdentity.of(path)
        listening.store(socket.descriptor, ordering: .sequentiallyConsistent)
        let box = ConnectionBox(socket)
        let thread = Thread { [self] in acceptLoop(box.take()) }
        thread.name = "lb-control"
        thread.start()
        await shutdownRequested()
        stopListening()
        await acceptEnded.valueIgnoringCancellation()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while requestsInFlight.load(ordering: .sequentiallyConsistent) > 0 && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // After a handover the path is the successor's (its file may even have this one's inode
        // number, freed and reused); otherwise remove the file unless someone replaced it.
        if !released.load(ordering: .sequentiallyConsistent), let identity, FileIdentity.of(path) == identity {
            unlink(path)
        }
    }

    /// Wakes the accept thread and makes later connections fail at once (`shutdown` on a listening
    /// socket does both on Linux), so that a successor finds the path free.
    private func stopListening() {
        guard stopRequested.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged
        else { return }
        let descriptor = listening.load(ordering: .sequentiallyConsistent)
        if descriptor >= 0 { shutdown(descriptor, Int32(SHUT_RDWR)) }
        // Only now may the accept thread close the descriptor: closed before the shutdown, its
        // number could have been reused by another socket, which the shutdown would then cut.
        listening.store(-1, ordering: .sequentiallyConsistent)
    }

    private func acceptLoop(_ socket: UnixStreamSocket) {
        defer {
            socket.close()
            acceptEnded.reach(())
        }
        while listening.load(ordering: .sequentiallyConsistent) >= 0 {
            guard let connection = socket.accept(timeoutMilliseconds: 250) else { continue }
            guard let peer = connection.peerProcess, peer.uid == 0 || peer.uid == getuid() else {
                try? connection.send(ControlMessage("refused", [("reason", "only the daemon's user or root may ask")]).line)
                continue
            }
            let box = ConnectionBox(connection)
            requestsInFlight.add(1, ordering: .sequentiallyConsistent)
            let worker = Thread { [self] in
                serve(box.take(), peer: peer.pid)
                requestsInFlight.subtract(1, ordering: .sequentiallyConsistent)
            }
            worker.name = "lb-control-request"
            worker.start()
        }
    }

    private func serve(_ connection: UnixStreamSocket, peer: Int32) {
        defer { connection.close() }
        guard let request = try? connection.receiveLine() else { return }
        let message = ControlMessage(parsing: request.line)
        for descriptor in request.descriptors { close(descriptor) }
        switch message.verb {
        case "handover":
            handOver(on: connection, to: Int32(message["pid"] ?? "") ?? peer)
        case "reload":
            let answer = Self.waitFor { [handlers] in await handlers.reload(message) }
                ?? ControlMessage("refused", [("reason", "no answer")])
            try? connection.send(answer.line)
        default:
            try? connection.send(ControlMessage("refused", [("reason", "unknown request \(message.verb)")]).line)
        }
    }

    private func handOver(on connection: UnixStreamSocket, to successor: Int32) {
        guard handingOver.compareExchange(expected: 0, desired: successor, ordering: .sequentiallyConsistent).exchanged else {
            let current = handingOver.load(ordering: .sequentiallyConsistent)
            try? connection.send(ControlMessage("refused", [("reason", "lbserver pid \(current) is taking over already")]).line)
            return
        }
        var released = false
        defer { if !released { handingOver.store(0, ordering: .sequentiallyConsistent) } }
        let offer: HandoverOffer
        switch handlers.offer(successor) {
        case .failure(let refusal):
            try? connection.send(ControlMessage("refused", [("reason", refusal.reason)]).line)
            return
        case .success(let made):
            offer = made
        }
        defer { offer.closeCopies() }
        do {
            try connection.send(ControlMessage("ok", offer.fields).line, descriptors: offer.descriptors)
        } catch {
            handlers.abandon(successor, "the offer could not be sent: \(error)")
            return
        }
        logger.notice("handing the listening sockets to a new lbserver; serving until it is ready",
                      metadata: ["successor_pid": "\(successor)"])
        connection.setTimeout(milliseconds: Int(Self.successorStartLimit.components.seconds) * 1_000)
        let next: ControlMessage?
        do {
            next = try connection.receiveLine().map { ControlMessage(parsing: $0.line) }
        } catch {
            handlers.abandon(successor, "it did not start within \(Self.successorStartLimit.components.seconds) s")
            return
        }
        guard let next, next.verb == "release" else {
            handlers.abandon(successor, next == nil ? "it exited or closed the connection before it served"
                                                    : "it asked \(next?.verb ?? "") instead of release")
            return
        }
        released = true
        self.released.store(true, ordering: .sequentiallyConsistent)
        // Stop answering first: the successor binds this path as soon as it reads the answer; and
        // let go (systemd hears of the new main process) before the successor says it is ready.
        stopListening()
        Self.waitFor { [handlers] in await handlers.release(successor) }
        try? connection.send(ControlMessage("released", [("pid", String(getpid()))]).line)
    }

    /// Runs `body` on Swift concurrency and blocks this (dedicated) thread until it returns.
    private static func waitFor<Result: Sendable>(_ body: @escaping @Sendable () async -> Result) -> Result? {
        let result = Mutex<Result?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let answer = await body()
            result.withLock { $0 = answer }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }
}

/// The sockets a daemon offers its successor, as copies it closes once sent, and the fields of
/// the `ok` answer that say who it is.
struct HandoverOffer: Sendable {
    var traffic: ListeningSocket
    var admin: ListeningSocket?
    var fields: [(String, String)]

    var descriptors: [CInt] { [traffic.descriptor] + (admin.map { [$0.descriptor] } ?? []) }

    func closeCopies() {
        traffic.close()
        admin?.close()
    }
}

/// Why a control request is refused, in the operator's words.
struct ControlRefusal: Error, Sendable {
    let reason: String
}

/// Hands a connection from the accept thread to its worker thread.
private final class ConnectionBox: @unchecked Sendable {
    // @unchecked Sendable: written once by the accept thread before the worker starts, then read
    // once by the worker; Thread's start orders the two.
    private var connection: UnixStreamSocket?

    init(_ connection: UnixStreamSocket) { self.connection = connection }

    func take() -> UnixStreamSocket {
        defer { connection = nil }
        return connection!
    }
}
