import NIOCore
import NIOPosix

/// Opens the channel of a new upstream connection in place of a TCP connect: it puts `handler`
/// in a channel of the pool's event loop and activates it. A seam for tests and the relay fuzzer,
/// which hand the proxy `EmbeddedChannel`s; the daemon never sets one.
typealias UpstreamConnector = @Sendable (_ backend: BackendRuntime, _ handler: UpstreamHandler) -> EventLoopFuture<Channel>

/// The idle keep-alive connections of one event loop, per backend slot.
///
/// Used only on its event loop (the same loop as the client connections it serves), so a
/// request never hops threads and the pool takes no lock.
final class UpstreamPool {
    let eventLoop: EventLoop
    /// Replaced by a reload (`UpstreamPools.update`); read per connection taken or returned.
    var settings: ProxySettings
    private var idle: [[UpstreamConnection]] = []
    /// Opens connections instead of TCP when set (tests only).
    private let connector: UpstreamConnector?

    /// TLS for `https://` backends.
    private let backendTLS: BackendTLS?

    init(eventLoop: EventLoop, settings: ProxySettings, connector: UpstreamConnector? = nil, backendTLS: BackendTLS? = nil) {
        self.backendTLS = backendTLS
        self.eventLoop = eventLoop
        self.settings = settings
        self.connector = connector
    }

    /// An idle connection to `backend` that is still fresh enough at `now`, if there is one.
    func takeIdle(_ backend: BackendRuntime, now: NIODeadline) -> UpstreamConnection? {
        eventLoop.assertInEventLoop()
        guard backend.slot < idle.count else { return nil }
        while let connection = idle[backend.slot].popLast() {
            if connection.isActive && now - connection.idleSince < settings.upstreamIdleTimeout {
                return connection
            }
            connection.abandon()
        }
        return nil
    }

    /// Takes a connection back after a complete exchange; extras beyond the limit are closed.
    func release(_ connection: UpstreamConnection) {
        eventLoop.assertInEventLoop()
        connection.handler.delegate = nil
        guard connection.isActive else { return }
        connection.hasServedBefore = true
        connection.idleSince = connection.handler.lastActivity
        while idle.count <= connection.backendSlot { idle.append([]) }
        if idle[connection.backendSlot].count >= settings.idleConnectionsPerBackend {
            connection.abandon()
            return
        }
        idle[connection.backendSlot].append(connection)
    }

    /// Closes every idle connection of a backend that left the registry.
    func drop(slot: Int) {
        eventLoop.assertInEventLoop()
        guard slot < idle.count else { return }
        for connection in idle[slot] { connection.abandon() }
        idle[slot].removeAll()
    }

    /// Opens a new connection to `backend`; `completion` runs on this pool's event loop.
    func connect(_ backend: BackendRuntime, _ completion: @escaping (Result<UpstreamConnection, Error>) -> Void) {
        let timeout = backend.responseTimeout ?? settings.responseTimeout
        if let connector {
            let handler = UpstreamHandler(timeout: timeout)
            connector(backend, handler).assumeIsolated().whenComplete { result in
                completion(result.map { UpstreamConnection(channel: $0, handler: handler, backendSlot: backend.slot) })
            }
            return
        }
        let connectTimeout = backend.connectTimeout ?? settings.connectTimeout
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        // For https, the connection is handed over once its handshake is done.
        let connected = backend.open(with: bootstrap, on: eventLoop, tls: backendTLS, handshakeTimeout: connectTimeout) {
            // One timer per connection, reset by any byte either way, covers the wait for a
            // response head and a stall mid-body, with no timer per request. Requests go out as
            // bytes the proxy wrote; responses are cut by the handler.
            try $0.pipeline.syncOperations.addHandler(UpstreamHandler(timeout: timeout))
        }
        let slot = backend.slot
        connected.assumeIsolated().whenComplete { result in
            completion(result.flatMap { channel in
                Result {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                    return UpstreamConnection(channel: channel, handler: handler, backendSlot: slot)
                }
            })
        }
    }
}

/// The pools of every event loop of the group, found once per client connection.
final class UpstreamPools: Sendable {
    private let pools: [(eventLoop: EventLoop, pool: NIOLoopBoundBox<UpstreamPool>)]

    convenience init(group: MultiThreadedEventLoopGroup, settings: ProxySettings, backendTLS: BackendTLS? = nil) {
        self.init(eventLoops: group.makeIterator().map { $0 }, settings: settings, backendTLS: backendTLS)
    }

    /// Pools for `eventLoops`, opening connections with `connector` where one is given (tests).
    init(eventLoops: [EventLoop], settings: ProxySettings, backendTLS: BackendTLS? = nil,
         connector: UpstreamConnector? = nil) {
        pools = eventLoops.map { loop in
            (loop, NIOLoopBoundBox.makeBoxSendingValue(
                UpstreamPool(eventLoop: loop, settings: settings, connector: connector, backendTLS: backendTLS),
                eventLoop: loop))
        }
    }

    /// The pool that belongs to `eventLoop`; call on that loop.
    func pool(for eventLoop: EventLoop) -> UpstreamPool? {
        pools.first { $0.eventLoop === eventLoop }?.pool.value
    }

    /// New settings for every loop's pool (a reload's): the idle limits and the default connect
    /// and response timeouts of the connections opened or returned from now on. The future
    /// completes once every loop has them.
    func update(_ settings: ProxySettings) -> EventLoopFuture<Void> {
        let updated = pools.map { entry in
            let pool = entry.pool
            return entry.eventLoop.submit { pool.value.settings = settings }
        }
        return EventLoopFuture.andAllComplete(updated, on: pools[0].eventLoop)
    }

    /// Closes idle connections to a removed backend on every loop.
    func drop(slot: Int) {
        for entry in pools {
            let pool = entry.pool
            entry.eventLoop.execute { pool.value.drop(slot: slot) }
        }
    }
}
