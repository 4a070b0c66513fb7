import LBStore
import Logging
import ServiceLifecycle

/// The event writer's end as a Service. The writer's thread runs from `LoadBalancer.open` (what
/// the restore decided is recorded before any service runs); this service owns the rest of its
/// life. First in the group, it is the last one told to stop: it then waits until the services
/// that record into it have stopped (they have, unless the grace period ran out and the group
/// cancelled all at once), writes the coalesced counts, the cursor, the `shutdown` event and the
/// clean-stop mark if the daemon had started (and not handed over: then the successor's `startup`
/// stands for this stop), and closes the writer without blocking a thread.
struct EventWriterService: Service, CustomStringConvertible {
    let writer: EventWriter
    let sink: EventSink
    let registry: BackendRegistry
    let logger: Logger
    /// Reached once the start is recorded; a daemon that failed to start records no stop.
    let started: Milestone<Void>
    /// Reached when the daemon handed over to a successor, whose start stands for this stop.
    let handedOver: Milestone<Int32>
    /// Reached by each service that records into the writer when it has stopped.
    let stopsAfter: [Milestone<Void>]

    var description: String { "EventWriter" }

    func run() async {
        await shutdownRequested()
        for dependent in stopsAfter { await dependent.valueIgnoringCancellation() }
        // The coalesced answers still merged are written before the stop is, so every count is.
        sink.flushCoalesced()
        let clean = started.isReached
        if clean && !handedOver.isReached {
            let now = Timestamp.now()
            if let cursor = registry.balancer.cursorToSave { writer.recordCursor(Int64(cursor), at: now) }
            writer.record(Event(at: now, kind: .shutdown, detail: "clean stop"))
            writer.recordCleanStop(at: now)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            writer.close(then: { continuation.resume() })
        }
        // Counted after the close: what the database would not take by then was spilled or lost.
        let statistics = writer.currentStatistics
        if clean {
            var metadata: Logger.Metadata = ["events_written": "\(statistics.written)",
                                             "events_dropped": "\(statistics.dropped)"]
            if statistics.spilled > 0 {
                metadata["events_spilled"] = "\(statistics.spilled)"
                metadata["spill_file"] = "\(writer.spillPath)"
                logger.warning("stopped with the database unwritable; the records not yet written are kept in the spill file and written at the next start",
                               metadata: metadata)
            } else if let successor = handedOver.current {
                metadata["successor_pid"] = "\(successor)"
                logger.info("stopped after handing over", metadata: metadata)
            } else {
                logger.info("stopped", metadata: metadata)
            }
        }
    }
}
