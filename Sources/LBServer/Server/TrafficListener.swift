import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

/// The traffic port as a Service: binds in `run()` (as Hummingbird's `Server` does), or takes the
/// socket a replaced daemon handed over (`ListenerSockets`), serves until
/// the graceful shutdown, then stops accepting and waits for every open connection to finish its
/// request. The group's maximum graceful shutdown duration (`--grace-period`) bounds that wait: at
/// its end the group cancels, and the connections still open are left to the event loops'
/// shutdown.
///
/// A bind failure throws a `StartupError` naming the address, which fails the group.
final class TrafficListener: Service, Sendable {
    private let host: String
    private let port: Int
    private let group: EventLoopGroup
    private let logger: Logger
    private let gracePeriod: TimeAmount
    private let limiter: ConnectionLimiter
    private let sockets: ListenerSockets
    private let initializeConnection: @Sendable (Channel) -> EventLoopFuture<Void>
    private let onListening: @Sendable (SocketAddress) async throws -> Void
    private let beforeAccepting: @Sendable () async -> Void

    /// `initializeConnection` sets up an accepted connection's pipeline; `beforeAccepting` runs
    /// once the socket is had and before anything is accepted on it (a takeover's release of the
    /// predecessor); `onListening` runs once the socket accepts, before this service waits for
    /// the shutdown (it may throw `CancellationError` when the group is cancelled meanwhile).
    init(host: String, port: Int, group: EventLoopGroup, logger: Logger, gracePeriod: TimeAmount,
         limiter: ConnectionLimiter, sockets: ListenerSockets,
         initializeConnection: @escaping @Sendable (Channel) -> EventLoopFuture<Void>,
         beforeAccepting: @escaping @Sendable () async -> Void = {},
         onListening: @escaping @Sendable (SocketAddress) async throws -> Void) {
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
        self.gracePeriod = gracePeriod
        self.limiter = limiter
        self.sockets = sockets
        self.initializeConnection = initializeConnection
        self.onListening = onListening
        self.beforeAccepting = beforeAccepting
    }

    func run() async throws {
        let quiesce = ServerQuiescingHelper(group: group)
        let channel = try await bind(quiesce: quiesce)
        do {
            guard let address = channel.localAddress else {
                throw StartupError(.listener, "cannot listen on \(host):\(port): the socket has no local address")
            }
            try await onListening(address)
        } catch {
            try? await channel.close()
            // Cancelled while starting: the group is stopping because another service failed.
            if error is CancellationError { return }
            throw error
        }
        let draining = Milestone<Void>()
        let drained = Milestone<Void>()
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in drained.reach(()) }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                // Ends when the quiescing helper closes the socket, or a cancellation does.
                try? await channel.closeFuture.get()
            } onGracefulShutdown: { [logger, gracePeriod, sockets] in
                // No successor may take the socket now: it is about to close here.
                sockets.stopOffering()
                draining.reach(())
                logger.info("shutting down: no new connections, finishing requests in flight",
                            metadata: ["grace_period": "\(gracePeriod)"])
                quiesce.initiateShutdown(promise: promise)
            }
        } onCancel: {
            // Cancelled before any graceful shutdown (another service failed): stop accepting now.
            if !draining.isReached { channel.close(promise: nil) }
        }
        guard draining.isReached else { return }
        // Every open connection finishes its request, or the group's grace period ends.
        if (try? await drained.value()) == nil {
            logger.warning("grace period over; closing the connections still open")
        }
    }

    private func bind(quiesce: ServerQuiescingHelper) async throws -> Channel {
        let limiter = self.limiter
        let initializeConnection = self.initializeConnection
        let socket: ListeningSocket
        do {
            socket = try sockets.traffic(host: host, port: port).socket
        } catch {
            throw StartupError(.listener, "cannot listen on \(host):\(port): \(Self.describe(error))")
        }
        await beforeAccepting()
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: ListeningSocket.backlog)
                .serverChannelInitializer { channel in
                    // NIO listened again with its default backlog when it took the socket.
                    socket.restoreBacklog()
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    // Over the cap: failing the initializer makes NIO close the connection.
                    guard limiter.admit(channel) else {
                        return channel.eventLoop.makeFailedFuture(ConnectionLimiter.Refused())
                    }
                    return initializeConnection(channel)
                }
                .withBoundSocket(socket.descriptor)
                .get()
            sockets.accepting(on: channel)
            return channel
        } catch {
            throw StartupError(.listener, "cannot listen on \(host):\(port): \(Self.describe(error))")
        }
    }

    /// A bind error in words an operator acts on.
    static func describe(_ error: Error) -> String {
        if let io = error as? IOError, io.errnoCode == EADDRINUSE { return "address already in use" }
        if let io = error as? IOError, io.errnoCode == EACCES { return "permission denied" }
        if let io = error as? IOError, io.errnoCode == EADDRNOTAVAIL { return "address not available on this host" }
        return "\(error)"
    }
}

extension TrafficListener: CustomStringConvertible {
    var description: String { "TrafficListener(\(host):\(port))" }
}
