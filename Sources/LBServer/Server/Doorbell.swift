import NIOConcurrencyHelpers

/// A wake-up for one waiting loop: `ring()` ends the current `wait`, or the next one if none is
/// waiting (rings in between count as one). The registry watcher sleeps on it between polls, and
/// PostgreSQL's notifications ring it.
final class Doorbell: Sendable {
    private enum State {
        case quiet
        case rung
        case waiting(CheckedContinuation<Void, Never>)
    }

    private let state = NIOLockedValueBox(State.quiet)

    func ring() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            switch state {
            case .quiet, .rung:
                state = .rung
                return nil
            case .waiting(let waiter):
                state = .quiet
                return waiter
            }
        }
        waiter?.resume()
    }

    /// Returns at a ring (at once if one came since the last wait), after `timeout`, or when the
    /// task is cancelled, whichever is first. A ring that comes as the timeout ends may be taken
    /// with it: the caller looks at what it waits for after every return.
    func wait(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.nextRing() }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextRing() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if case .rung = state {
                        state = .quiet
                        return true
                    }
                    // Cancelled before it could wait: the handler found no waiter to resume.
                    if Task.isCancelled { return true }
                    state = .waiting(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                guard case .waiting(let waiter) = state else { return nil }
                state = .quiet
                return waiter
            }
            waiter?.resume()
        }
    }
}
