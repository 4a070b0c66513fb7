import LBStore
import Logging
import NIOPosix
import ServiceLifecycle

/// Sends the outbox on to PostgreSQL (`OutboxForwarder`) as a Service: a pass every
/// `interval`, at once again while a backlog is left, on the thread pool (each pass blocks on
/// both databases). While PostgreSQL is away the passes fail, traffic goes on, the outbox grows,
/// and the outage is recorded when it starts and when it ends (as `store_error` events, which
/// reach PostgreSQL with the rest once it is back). First in the group, it is the last told to stop: the event writer has closed
/// by then, and one last pass (within `finalPassTimeout`) sends what it wrote last.
final class ForwarderService: Service, Sendable, CustomStringConvertible {
    private let forwarder: OutboxForwarder
    private let writer: EventWriter
    private let logger: Logger
    private let interval: Duration
    private let threadPool: NIOThreadPool

    var description: String { "OutboxForwarder" }

    init(forwarder: OutboxForwarder, writer: EventWriter, logger: Logger, interval: Duration = .milliseconds(200),
         threadPool: NIOThreadPool = .singleton) {
        self.forwarder = forwarder
        self.writer = writer
        self.logger = logger
        self.interval = interval
        self.threadPool = threadPool
    }

    func run() async {
        await cancellingAtShutdownRequest { [self] in
            var outage: (since: Timestamp, error: String)?
            let clock = ContinuousClock()
            var lastLog: ContinuousClock.Instant?
            while !Task.isCancelled {
                var backlog = false
                do {
                    let pass = try await threadPool.runIfActive { [forwarder] in try forwarder.forward() }
                    backlog = pass.eventsLeft > 0
                    if let ended = outage {
                        outage = nil
                        let seconds = (Timestamp.now().milliseconds - ended.since.milliseconds) / 1_000
                        logger.notice("PostgreSQL takes the outbox again; sending what was kept",
                                      metadata: ["outage_s": "\(seconds)", "left": "\(pass.eventsLeft)"])
                        writer.record(Event(at: .now(), kind: .storeError, detail: """
                            PostgreSQL could not take the outbox from \(ended.since.rfc3339) for \(seconds)s (\(ended.error)); \
                            what was recorded meanwhile was kept in the outbox and sent after it
                            """))
                    }
                } catch is CancellationError {
                    return
                } catch {
                    let text = (error as? StoreError)?.message ?? "\(error)"
                    if outage == nil {
                        let since = Timestamp.now()
                        outage = (since, text)
                        logger.error("cannot send the outbox to PostgreSQL; recording locally meanwhile",
                                     metadata: ["error": "\(text)"])
                        writer.record(Event(at: since, kind: .storeError, detail: """
                            PostgreSQL cannot take the outbox (\(text)); recording into it until PostgreSQL can
                            """))
                        lastLog = clock.now
                    } else if lastLog.map({ clock.now - $0 >= .seconds(60) }) ?? true {
                        lastLog = clock.now
                        logger.error("PostgreSQL still unreachable; the outbox keeps growing", metadata: ["error": "\(text)"])
                    }
                }
                if !backlog {
                    do { try await Task.sleep(for: interval) } catch { return }
                }
            }
        }
        // The writer closed before this service was told to stop: one last pass sends its last
        // records (the shutdown event, the clean stop). What PostgreSQL cannot take now is sent
        // by the next start, from the outbox.
        do {
            let pass = try await threadPool.runIfActive { [forwarder] in try forwarder.forward(maximumEvents: 100_000) }
            logger.info("outbox sent", metadata: ["left": "\(pass.eventsLeft)"])
        } catch {
            logger.warning("the outbox could not be sent before the stop; the next start sends it",
                           metadata: ["error": "\((error as? StoreError)?.message ?? "\(error)")"])
        }
    }
}
