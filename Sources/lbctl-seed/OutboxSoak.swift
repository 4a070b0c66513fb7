import Foundation
import LBStore

/// The recording half of a fleet daemon, driven at a steady rate for scripts/soak-outage: an
/// `EventWriter` commits numbered `failure` events into the outbox at `rate` per second while an
/// `OutboxForwarder` sends the outbox on to PostgreSQL every 200 ms, as the daemon's services do.
/// Each event's request id is `RUN-SEQ`, SEQ counting from 0 without a gap, so the script can
/// tell afterwards which were lost or written twice. The highest SEQ the outbox has committed is
/// rewritten into `acked` as it moves: what a `kill -9` may not lose.
///
/// After `seconds` it stops producing and forwards until the outbox is empty (or `drain`
/// seconds pass), then prints what it did.
struct OutboxSoak {
    let outbox: String
    let target: PostgresTarget
    let run: String
    let rate: Int
    let seconds: Int
    let drainSeconds: Int
    let acked: String

    func start() throws {
        let identity = InstanceIdentity(name: "soak", host: "localhost", pid: Int(getpid()), listen: "-", version: "soak")
        let writer = try EventWriter(path: outbox, instance: identity, configuration: .init(capacity: 1_000_000))
        let forwarder = try OutboxForwarder(outbox: outbox, target: target, instance: "soak")
        let producing = ManagedFlag()
        let forwarding = Thread { forward(forwarder, while: producing) }
        forwarding.start()

        let began = ContinuousClock.now
        let interval = Duration.seconds(1) / rate
        var sequence = 0
        var dropped = 0
        let ackedPath = acked
        while ContinuousClock.now - began < .seconds(seconds) {
            // Paced by the clock, not by sleeps: a late wake-up sends the events it owes at once.
            let due = Int((ContinuousClock.now - began) / interval)
            while sequence < due {
                let event = Event(at: .now(), kind: .failure, requestID: "\(run)-\(sequence)", attempt: 1,
                                  detail: "soak: connection refused")
                if !writer.record(event) { dropped += 1 }
                sequence += 1
            }
            let committed = sequence - 1
            writer.afterCommit { done in
                if done { try? "\(committed)\n".write(toFile: ackedPath, atomically: true, encoding: .utf8) }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard writer.flush(timeout: .seconds(60)) else { fail("the writer did not commit: \(writer.currentStatistics)") }
        try "\(sequence - 1)\n".write(toFile: acked, atomically: true, encoding: .utf8)
        producing.clear()
        writer.close()
        let deadline = ContinuousClock.now + .seconds(drainSeconds)
        while !producing.drained, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.1) }
        print("soak \(run): \(sequence) events recorded (\(dropped) refused by the queue), outbox "
            + (producing.drained ? "drained" : "NOT drained after \(drainSeconds) s"))
        if !producing.drained { exit(1) }
    }

    /// The forwarding service's loop: a pass every 200 ms; a failure (PostgreSQL away) is printed
    /// once per outage and retried on the next pass. Marks `drained` once production stopped and
    /// a pass left nothing behind.
    private func forward(_ forwarder: OutboxForwarder, while producing: ManagedFlag) {
        var failing = false
        // From the first pass PostgreSQL took after an outage until the backlog was gone.
        var catchingUp: (since: ContinuousClock.Instant, sent: Int)?
        while true {
            let stopping = !producing.isSet
            do {
                let pass = try forwarder.forward()
                if failing {
                    print("soak \(run): PostgreSQL takes the outbox again; \(pass.events + pass.eventsLeft) events waiting")
                    failing = false
                    catchingUp = (ContinuousClock.now, 0)
                }
                if let since = catchingUp?.since {
                    catchingUp?.sent += pass.events
                    if pass.eventsLeft < rate {
                        print("soak \(run): backlog sent (\(catchingUp?.sent ?? 0) events) in \(ContinuousClock.now - since)")
                        catchingUp = nil
                    }
                }
                if stopping, pass.eventsLeft == 0 {
                    producing.drained = true
                    return
                }
                if pass.eventsLeft > 0 { continue }
            } catch {
                if !failing { print("soak \(run): PostgreSQL cannot take the outbox: \(error)") }
                failing = true
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }
}

/// Set while the soak produces; `drained` once the forwarder emptied the outbox after it.
final class ManagedFlag: @unchecked Sendable {
    // @unchecked Sendable: every field is read and written under `lock`.
    private let lock = NSLock()
    private var set = true
    private var isDrained = false

    var isSet: Bool { lock.withLock { set } }
    func clear() { lock.withLock { set = false } }
    var drained: Bool {
        get { lock.withLock { isDrained } }
        set { lock.withLock { isDrained = newValue } }
    }
}
