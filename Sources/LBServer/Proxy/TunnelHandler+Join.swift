import NIOCore

extension TunnelHandler {
    /// Takes HTTP out of both connections after a `101` and joins them byte for byte: a tunnel end
    /// goes into each pipeline, the backend's `UpstreamHandler` leaves its pipeline (the connection
    /// never returns to the pool), and the proxy handler whose `context` is given leaves the
    /// client's. Bytes either side sent right after the switch belong to the new protocol:
    /// `clientBytes` (read past the upgrade request) go to the backend, what the backend sent past
    /// its `101` to the client. On failure both connections are closed.
    static func join(client context: ChannelHandlerContext, clientBytes: ByteBuffer?, backend connection: UpstreamConnection,
                     idleTimeout: TimeAmount) {
        connection.handler.delegate = nil
        let (clientEnd, backendEnd) = pair(idleTimeout: idleTimeout)
        if let early = connection.handler.takeBuffered() { context.write(NIOAny(early), promise: nil) }
        context.flush()
        if let clientBytes { connection.write(clientBytes, now: .now()) }
        connection.flush()
        do {
            try context.pipeline.syncOperations.addHandler(clientEnd)
            let backend = connection.channel.pipeline.syncOperations
            try backend.addHandler(backendEnd)
            let upstreamContext = try backend.context(handlerType: UpstreamHandler.self)
            backend.removeHandler(context: upstreamContext, promise: nil)
        } catch {
            connection.channel.close(promise: nil)
            context.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
