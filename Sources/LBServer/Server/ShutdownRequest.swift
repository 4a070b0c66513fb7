import ServiceLifecycle

/// Waits until the service running this task is asked to stop: its graceful shutdown, or the
/// task's cancellation (the group cancels when the grace period is over or a service failed).
///
/// Like swift-service-lifecycle's `gracefulShutdown()`, but the request is passed on directly by
/// the handlers, not through a task of its own, so it arrives even while every thread of Swift
/// concurrency's pool is busy, and it never throws.
func shutdownRequested() async {
    let requested = Milestone<Void>()
    await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await requested.valueIgnoringCancellation()
        } onGracefulShutdown: {
            requested.reach(())
        }
    } onCancel: {
        requested.reach(())
    }
}

/// Runs `body` until it returns or the service is asked to stop (`shutdownRequested()`), in which
/// case `body`'s task is cancelled and awaited.
func cancellingAtShutdownRequest(_ body: @escaping @Sendable () async -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await body() }
        // Ends at the request, or by the cancellation below when `body` ended first.
        group.addTask { await shutdownRequested() }
        await group.next()
        group.cancelAll()
    }
}
