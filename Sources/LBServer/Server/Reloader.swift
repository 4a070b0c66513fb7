import ServiceLifecycle
import UnixSignals

/// SIGHUP as a Service: each hangup calls `reload`, one at a time, until the graceful shutdown
/// (or cancellation). The signal is trapped by whoever makes the sequence, before the daemon says
/// it is listening, so that a script that read that line may send one.
struct Reloader: Service, CustomStringConvertible {
    let hangups: UnixSignalsSequence
    let reload: @Sendable () async -> Void

    var description: String { "Reloader(SIGHUP)" }

    func run() async {
        let hangups = self.hangups
        let reload = self.reload
        // The sequence ends when the task is cancelled, which the shutdown request does.
        await cancellingAtShutdownRequest {
            for await _ in hangups { await reload() }
        }
    }
}
