import NIOCore

/// Holds an HTTP/2 connection's flushes until the event loop has handled every event that was
/// ready, then flushes once: the answers of all the streams that their backends completed in one
/// turn of the loop leave in one write (one run of TLS records, one system call) instead of one
/// each. Within a read of the connection itself swift-nio-http2 already waits for the read's end;
/// this does the same for writes that backends' reads cause.
///
/// It sits below `NIOHTTP2Handler` (and above the TLS handler, if any).
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        // A task runs after the events of the loop's current turn, all of them.
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // What waits for the flush goes before the close (a GOAWAY, the last answers).
        if flushScheduled {
            flushScheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
