import Synchronization

/// A point in the daemon's start or stop that other services wait for (the traffic listener
/// bound, the start recorded, a service stopped), with the value it brings.
///
/// Reached once; a second `reach` is ignored. Any number of tasks may wait, before or after it is
/// reached. `value()` gives up when the waiting task is cancelled, as a service's wait must when
/// the group is cancelled; `valueIgnoringCancellation()` does not, for a wait that is part of
/// stopping.
final class Milestone<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// The value, if the milestone was reached.
    var current: Value? { state.withLock { $0.value } }

    var isReached: Bool { current != nil }

    /// Reaches the milestone with `value` and wakes every waiter; ignored if already reached.
    func reach(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// Waits until the milestone is reached; throws `CancellationError` if the task is cancelled first.
    func value() async throws -> Value {
        guard let value = await wait(cancellable: true) else { throw CancellationError() }
        return value
    }

    /// Waits until the milestone is reached, whether or not the task is cancelled meanwhile.
    func valueIgnoringCancellation() async -> Value {
        // Without a cancellation handler nothing resumes the waiter early.
        await wait(cancellable: false)!
    }

    private func wait(cancellable: Bool) async -> Value? {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        guard cancellable else { return await suspend(id: id, cancellable: false) }
        return await withTaskCancellationHandler {
            await suspend(id: id, cancellable: true)
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    private func suspend(id: UInt64, cancellable: Bool) async -> Value? {
        await withCheckedContinuation { continuation in
            // Checked under the lock the cancellation handler takes: either the handler runs
            // after the waiter is stored and finds it, or the task is seen cancelled here.
            let now = state.withLock { state -> Value?? in
                if let value = state.value { return .some(value) }
                if cancellable && Task.isCancelled { return .some(nil) }
                state.waiters[id] = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}
