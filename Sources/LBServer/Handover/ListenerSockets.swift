import NIOCore
import Synchronization

/// The daemon's listening sockets: those it inherited from the daemon it replaces, those it bound,
/// and which of them it offers to a daemon that replaces it in turn.
///
/// A listener asks for its socket with `traffic(host:port:)` or `admin(host:port:)`: an inherited
/// socket that serves the configured address is used, with its accept queue; otherwise (nothing
/// inherited, or the address changed) a new one is bound. A socket is offered from the moment its
/// listener serves it until the daemon starts to drain (`stopOffering`), after which its
/// descriptor may be closed.
///
/// Two processes never accept on one socket at once: the predecessor stops accepting
/// (`stopAccepting`) before its successor starts, and the connections that arrive meanwhile wait
/// in the kernel's queue. (Both would be woken for each connection, and the one that lost the
/// race would find nothing to accept, which SwiftNIO's debug builds assert never happens.)
final class ListenerSockets: Sendable {
    private struct State {
        var inheritedTraffic: ListeningSocket?
        var inheritedAdmin: ListeningSocket?
        var traffic: ListeningSocket?
        var admin: ListeningSocket?
        var offering = true
        /// The listeners' server channels, once they accept.
        var channels: [Channel] = []
    }

    private let state: Mutex<State>

    /// `traffic` and `admin`: the sockets a predecessor handed over, if any.
    init(inheritedTraffic: ListeningSocket? = nil, inheritedAdmin: ListeningSocket? = nil) {
        state = Mutex(State(inheritedTraffic: inheritedTraffic, inheritedAdmin: inheritedAdmin))
    }

    /// Which socket a listener got: inherited, or bound anew because nothing fit.
    enum Origin: String, Sendable {
        case inherited
        case bound
    }

    /// The traffic listener's socket for `host:port`; throws the bind error.
    func traffic(host: String, port: Int) throws -> (socket: ListeningSocket, origin: Origin) {
        try take(host: host, port: port, inherited: \.inheritedTraffic, serving: \.traffic)
    }

    /// The admin listener's socket for `host:port`; throws the bind error.
    func admin(host: String, port: Int) throws -> (socket: ListeningSocket, origin: Origin) {
        try take(host: host, port: port, inherited: \.inheritedAdmin, serving: \.admin)
    }

    private func take(host: String, port: Int, inherited: WritableKeyPath<State, ListeningSocket?>,
                      serving: WritableKeyPath<State, ListeningSocket?>) throws -> (socket: ListeningSocket, origin: Origin) {
        let candidate = state.withLock { state -> ListeningSocket? in
            defer { state[keyPath: inherited] = nil }
            return state[keyPath: inherited]
        }
        let chosen: (socket: ListeningSocket, origin: Origin)
        if let candidate, candidate.serves(host: host, port: port) {
            chosen = (candidate, .inherited)
        } else {
            // The address changed: the predecessor keeps serving the old one until it drains.
            if let candidate { candidate.close() }
            chosen = (try ListeningSocket.bind(host: host, port: port), .bound)
        }
        state.withLock { $0[keyPath: serving] = chosen.socket }
        return chosen
    }

    /// Copies of the sockets to hand to a successor, traffic first, which the caller closes once
    /// sent; nil once draining or before the traffic listener serves. Copied under the lock, so
    /// that a drain starting meanwhile cannot close a descriptor between the choice and the copy.
    func offer() -> (traffic: ListeningSocket, admin: ListeningSocket?)? {
        state.withLock { state in
            guard state.offering, let traffic = state.traffic?.duplicate() else { return nil }
            return (traffic, state.admin?.duplicate())
        }
    }

    /// A listener accepts on `channel`.
    func accepting(on channel: Channel) {
        state.withLock { $0.channels.append(channel) }
    }

    /// Stops accepting on every listener (the successor accepts from now on); connections already
    /// accepted are served as before, and the sockets close with the drain.
    func stopAccepting() async {
        let channels = state.withLock { state -> [Channel] in
            state.offering = false
            return state.channels
        }
        for channel in channels { try? await channel.setOption(.autoRead, value: false) }
    }

    /// The daemon drains: its sockets are about to close and are no longer offered.
    func stopOffering() {
        state.withLock { $0.offering = false }
    }

    /// Closes inherited sockets no listener took (the daemon failed before serving them).
    func closeUnused() {
        let unused = state.withLock { state -> [ListeningSocket] in
            defer { state.inheritedTraffic = nil; state.inheritedAdmin = nil }
            return [state.inheritedTraffic, state.inheritedAdmin].compactMap { $0 }
        }
        for socket in unused { socket.close() }
    }
}
