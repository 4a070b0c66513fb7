import Foundation
import LBStore
import NIOPosix
import ServiceLifecycle
import NIOConcurrencyHelpers

/// The optional access log (`--access-log FILE|-`): one line per answered request, written off
/// the event loops, a Service in the daemon's group.
///
/// `record` only appends a small value to a bounded queue under a mutex, and wakes the service's
/// task when the queue was empty; the task hands what is queued to a `NIOThreadPool` thread,
/// which formats it and writes it in one go. When the queue is full the entry is dropped and
/// counted, and the count is written as a line of its own once there is room: loss is never
/// silent. On graceful shutdown or cancellation the service writes what is queued, closes the
/// file and returns; later entries are dropped.
///
/// A reload opens the file again (`Destination`, `use`): at another path or format, off, or the
/// same path after logrotate moved it away. A line goes where the log writes when the writer takes
/// it from the queue: to the old file if taken before the switch, else to the new one (or nowhere,
/// when the reload turned the log off); none is written twice.
final class AccessLog: Service, Sendable {
    /// One answered request, as the proxy saw it. Formatted on a thread-pool thread.
    struct Entry: Sendable {
        var at: Timestamp
        var client: String
        var method: String
        var path: String
        var status: Int
        var bytes: Int
        var durationNanoseconds: UInt64
        /// The backend that answered; nil when the balancer answered itself.
        var backend: String?
        var requestID: String
        /// The client connection's TLS version; nil for plain HTTP.
        var tls: String? = nil
        /// The protocol the request came in: `HTTP/2`, `HTTP/1.1`, `HTTP/1.0`.
        var proto = "HTTP/1.1"
    }

    struct OpenError: Error, CustomStringConvertible {
        let description: String
    }

    /// Where lines go and in which format.
    fileprivate struct Output: Sendable {
        var descriptor: Int32
        var closesDescriptor: Bool
        var format: LogFormat
    }

    private struct Queue {
        var entries: [Entry] = []
        var dropped = 0
        var closing = false
        /// Nil while the log is off: entries are not queued.
        var output: Output?
        /// Outputs a reopen replaced, for the writer to close once it no longer writes to them.
        var retired: [Output] = []
        /// The service's task, suspended until there is something to write or the log closes.
        var consumer: CheckedContinuation<Void, Never>?

        var hasWork: Bool { !entries.isEmpty || dropped > 0 || closing || !retired.isEmpty }
    }

    static let capacity = 65_536
    /// NIO's lock rather than `Synchronization.Mutex`: every event loop takes it at once, and
    /// ThreadSanitizer reports a contended Mutex falsely (it did here; see `DaemonMetrics`).
    private let queue = NIOLockedValueBox(Queue())
    private let threadPool: NIOThreadPool

    /// Opens `destination` for appending (created with mode 0640 if missing), or standard output
    /// for `-`; nil: off until a reopen says where. Opening is a blocking call: make it off the
    /// event loops and Swift concurrency's threads (`LoadBalancer.open` does it on the thread pool).
    init(destination: String?, format: LogFormat, threadPool: NIOThreadPool = .singleton) throws {
        self.threadPool = threadPool
        let output = try destination.map { try Self.output(at: $0, format: format) }
        queue.withLockedValue { $0.output = output }
    }

    fileprivate static func output(at destination: String, format: LogFormat) throws -> Output {
        if destination == "-" { return Output(descriptor: STDOUT_FILENO, closesDescriptor: false, format: format) }
        let descriptor = open(destination, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw OpenError(description: "cannot open access log \(destination): \(String(cString: strerror(errno)))")
        }
        return Output(descriptor: descriptor, closesDescriptor: true, format: format)
    }

    /// Where a reload's access log goes, opened and not yet written to: `use` or `discard` it.
    struct Destination: Sendable {
        fileprivate let output: Output?

        /// Opens `destination` (nil: the log is off) as `init` does, anew even at the same path, so
        /// that a reload after logrotate moved the file writes to a new one. Blocking: call off
        /// the event loops.
        init(_ destination: String?, format: LogFormat) throws {
            output = try destination.map { try AccessLog.output(at: $0, format: format) }
        }

        /// Closes what was opened; for a reload that failed after opening it.
        func discard() {
            if let output, output.closesDescriptor { _ = close(output.descriptor) }
        }
    }

    /// Writes to `destination` from now on; the file written so far is closed once the writer is
    /// done with it.
    func use(_ destination: Destination) {
        let consumer = queue.withLockedValue { queue -> CheckedContinuation<Void, Never>? in
            guard !queue.closing else {
                destination.discard()
                return nil
            }
            if let old = queue.output { queue.retired.append(old) }
            queue.output = destination.output
            return queue.consumer.take()
        }
        consumer?.resume()
    }

    /// Queues one line; never blocks on I/O. Safe from any thread.
    func record(_ entry: Entry) {
        let consumer = queue.withLockedValue { queue -> CheckedContinuation<Void, Never>? in
            guard !queue.closing, queue.output != nil else { return nil }
            guard queue.entries.count < Self.capacity else {
                queue.dropped += 1
                return nil
            }
            queue.entries.append(entry)
            // Only a waiting consumer is woken: one wake-up per batch, not per line.
            return queue.consumer.take()
        }
        consumer?.resume()
    }

    /// Writes lines as they come until a graceful shutdown or cancellation, then what is still
    /// queued, and closes the file.
    func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await writeUntilClosed()
        } onCancelOrGracefulShutdown: { [self] in
            let consumer = queue.withLockedValue { queue -> CheckedContinuation<Void, Never>? in
                queue.closing = true
                return queue.consumer.take()
            }
            consumer?.resume()
        }
    }

    private func writeUntilClosed() async {
        while true {
            let batch = await nextBatch()
            if let output = batch.output, !batch.entries.isEmpty || batch.dropped > 0 {
                await onThreadPool { [self] in writeLines(batch.entries, dropped: batch.dropped, to: output) }
            }
            // Closed only now: the batch before this one was the last written to them.
            let closing = batch.closing ? batch.output.map { [$0] } ?? [] : []
            let done = (batch.retired + closing).filter(\.closesDescriptor)
            if !done.isEmpty { await onThreadPool { for output in done { _ = close(output.descriptor) } } }
            if batch.closing { break }
        }
    }

    private struct Batch {
        var entries: [Entry]
        var dropped: Int
        var closing: Bool
        var output: Output?
        var retired: [Output]
    }

    /// What is queued, taken out of the queue, once there is something or the log closes.
    private func nextBatch() async -> Batch {
        while true {
            let taken = queue.withLockedValue { queue -> Batch? in
                guard queue.hasWork else { return nil }
                let taken = Batch(entries: queue.entries, dropped: queue.dropped, closing: queue.closing,
                                  output: queue.output, retired: queue.retired)
                queue.entries.removeAll(keepingCapacity: true)
                queue.dropped = 0
                queue.retired.removeAll()
                return taken
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                // Checked again under the lock `record` takes: an entry that came in meanwhile
                // found no consumer to wake, and would otherwise wait for the next one.
                let ready = queue.withLockedValue { queue -> Bool in
                    guard !queue.hasWork else { return true }
                    queue.consumer = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// Runs `body` on the thread pool and waits for it; not cancelled with the task, so what was
    /// taken from the queue is always written.
    private func onThreadPool(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            threadPool.submit { _ in
                body()
                continuation.resume()
            }
        }
    }

    /// Formats and writes one batch; on a thread-pool thread.
    private func writeLines(_ batch: [Entry], dropped: Int, to output: Output) {
        let format = output.format
        let descriptor = output.descriptor
        var text = ""
        text.reserveCapacity(batch.count * 200)
        for entry in batch { text += line(for: entry, format: format) }
        if dropped > 0 {
            text += format.line([LogField("ts", Timestamp.now().rfc3339), .number("dropped", "\(dropped)"),
                                 LogField.quoted("msg", "access log queue full; lines dropped")])
        }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            // A write error (disk full) loses these lines but must not stop the daemon.
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    private func line(for entry: Entry, format: LogFormat) -> String {
        let milliseconds = Double(entry.durationNanoseconds / 1_000) / 1_000
        return format.line([
            LogField("ts", entry.at.rfc3339), LogField("client", entry.client), LogField("method", entry.method),
            LogField("path", entry.path), LogField("proto", entry.proto), .number("status", "\(entry.status)"), .number("bytes", "\(entry.bytes)"),
            .number("duration_ms", "\(milliseconds)"), LogField("backend", entry.backend ?? "-"),
            LogField("request_id", entry.requestID), LogField("tls", entry.tls ?? "-"),
        ])
    }
}
