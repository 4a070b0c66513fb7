import NIOCore
import ServiceLifecycle

/// systemd's side of the daemon's life as a Service: `WATCHDOG=1` at half the unit's
/// `WatchdogSec=` while every event loop runs a task it is given (a stuck loop stops the pings and
/// systemd restarts the daemon), and `STOPPING=1` when the daemon starts to stop, unless it handed
/// over (its successor is the unit's main process then). `READY=1` is sent by the daemon itself
/// once it serves. Ends at once when systemd did not ask for notifications.
struct SystemdService: Service, CustomStringConvertible {
    let notifier: SystemdNotifier
    let eventLoops: EventLoopGroup
    let handedOver: Milestone<Int32>

    var description: String { "SystemdNotifier" }

    func run() async {
        guard notifier.isActive else {
            await shutdownRequested()
            return
        }
        if let interval = notifier.watchdogInterval {
            await cancellingAtShutdownRequest { [notifier, eventLoops] in
                while !Task.isCancelled {
                    if await Self.everyLoopAnswers(eventLoops) { notifier.notify([("WATCHDOG", "1")]) }
                    try? await Task.sleep(for: interval / 2)
                }
            }
        } else {
            await shutdownRequested()
        }
        if !handedOver.isReached {
            notifier.notify([("STOPPING", "1"), ("STATUS", "draining: no new connections, finishing requests in flight")])
        }
    }

    /// Whether each event loop ran a task it was handed.
    private static func everyLoopAnswers(_ group: EventLoopGroup) async -> Bool {
        for loop in group.makeIterator() {
            guard (try? await loop.submit {}.get()) != nil else { return false }
        }
        return true
    }
}
