import NIOCore

/// The proxy context that a reload replaces: one copy per event loop, read only on that loop, so
/// that a connection looks at it without a lock or an atomic. A connection takes its loop's
/// context when it opens and again before each request that starts on an idle connection (one
/// integer compared), so after a reload the next request on every connection, kept-alive ones
/// included, follows the new settings, and a request in progress finishes under the old ones.
final class LiveProxyContext: Sendable {
    /// One event loop's current context; touched only on that loop.
    final class Current {
        fileprivate(set) var context: ProxyContext
        /// Bumped by each replacement; a connection compares it with the one it last took.
        fileprivate(set) var generation = 0

        fileprivate init(_ context: ProxyContext) { self.context = context }
    }

    private let loops: [(eventLoop: EventLoop, current: NIOLoopBoundBox<Current>)]

    init(_ context: ProxyContext, eventLoops: [EventLoop]) {
        loops = eventLoops.map { loop in
            (loop, NIOLoopBoundBox.makeBoxSendingValue(Current(context), eventLoop: loop))
        }
    }

    convenience init(_ context: ProxyContext, group: EventLoopGroup) {
        self.init(context, eventLoops: group.makeIterator().map { $0 })
    }

    /// `eventLoop`'s current context; call on that loop. Nil for a loop outside the group (a test's).
    func current(on eventLoop: EventLoop) -> Current? {
        loops.first { $0.eventLoop === eventLoop }?.current.value
    }

    /// Makes `context` every loop's current one; the future completes once each loop has taken it.
    func replace(with context: ProxyContext) -> EventLoopFuture<Void> {
        let replaced = loops.map { entry in
            entry.eventLoop.submit {
                let current = entry.current.value
                current.context = context
                current.generation += 1
            }
        }
        return EventLoopFuture.andAllComplete(replaced, on: loops[0].eventLoop)
    }
}
