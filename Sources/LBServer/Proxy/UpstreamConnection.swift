import NIOCore

/// One keep-alive connection to a backend, owned by the pool of its event loop.
final class UpstreamConnection {
    let channel: Channel
    let handler: UpstreamHandler
    let backendSlot: Int
    /// When it last went back to the pool, to retire connections left idle too long.
    var idleSince = NIODeadline.uptimeNanoseconds(0)
    /// Whether it has served a request before; a failure on a reused connection may just be the
    /// backend closing an idle connection as we picked it.
    var hasServedBefore = false

    init(channel: Channel, handler: UpstreamHandler, backendSlot: Int) {
        self.channel = channel
        self.handler = handler
        self.backendSlot = backendSlot
    }

    var isActive: Bool { channel.isActive }
    var isWritable: Bool { channel.isWritable }

    /// Writes request bytes; `now` is about when (the read that produced them), for the timeout.
    func write(_ bytes: ByteBuffer, now: NIODeadline) { handler.send(bytes, now: now) }

    func flush() { handler.flushRequest() }

    /// Closes the connection after detaching its delegate, so the close reports nothing.
    func abandon() {
        handler.delegate = nil
        channel.close(promise: nil)
    }
}
