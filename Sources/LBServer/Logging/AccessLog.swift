import Foundation
import LBStore
import Synchronization

/// The optional access log (`--access-log FILE|-`): one line per answered request, written by a
/// thread of its own so that the event loops never touch the file.
///
/// `record` only appends a small value to a bounded queue under a mutex; the writer thread
/// formats and writes in batches. When the queue is full the entry is dropped and counted, and
/// the count is written as a line of its own once there is room: loss is never silent.
final class AccessLog: Sendable {
    /// One answered request, as the proxy saw it. Formatted on the writer thread.
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
    }

    struct OpenError: Error, CustomStringConvertible {
        let description: String
    }

    private struct Queue {
        var entries: [Entry] = []
        var dropped = 0
        var closing = false
    }

    static let capacity = 65_536
    let format: LogFormat
    private let handle: FileHandle
    private let closesHandle: Bool
    private let queue = Mutex(Queue())
    /// Signalled when the queue gains its first entry or is closed; guards nothing else.
    private let wakeUp = NSCondition()
    private let finished = NSCondition()
    private let done = Atomic<Bool>(false)

    /// Opens `destination` for appending (created with mode 0640 if missing), or standard output
    /// for `-`, and starts the writer thread.
    init(destination: String, format: LogFormat) throws {
        self.format = format
        if destination == "-" {
            handle = FileHandle.standardOutput
            closesHandle = false
        } else {
            let descriptor = open(destination, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else {
                throw OpenError(description: "cannot open access log \(destination): \(String(cString: strerror(errno)))")
            }
            handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            closesHandle = true
        }
        let thread = Thread { [self] in run() }
        thread.name = "lbserver-access-log"
        thread.start()
    }

    /// Queues one line; never blocks on I/O. Safe from any thread.
    func record(_ entry: Entry) {
        let wasEmpty = queue.withLock { queue -> Bool in
            guard !queue.closing else { return false }
            guard queue.entries.count < Self.capacity else {
                queue.dropped += 1
                return false
            }
            queue.entries.append(entry)
            return queue.entries.count == 1
        }
        if wasEmpty {
            wakeUp.lock()
            wakeUp.signal()
            wakeUp.unlock()
        }
    }

    /// Writes what is queued, stops the writer thread and closes the file.
    func close() {
        queue.withLock { $0.closing = true }
        wakeUp.lock()
        wakeUp.signal()
        wakeUp.unlock()
        finished.lock()
        while !done.load(ordering: .acquiring) { finished.wait() }
        finished.unlock()
    }

    private func run() {
        while true {
            let (batch, dropped, closing) = queue.withLock { queue -> ([Entry], Int, Bool) in
                let taken = (queue.entries, queue.dropped, queue.closing)
                queue.entries.removeAll(keepingCapacity: true)
                queue.dropped = 0
                return taken
            }
            if !batch.isEmpty || dropped > 0 {
                var text = ""
                text.reserveCapacity(batch.count * 200)
                for entry in batch { text += line(for: entry) }
                if dropped > 0 {
                    text += format.line([LogField("ts", Timestamp.now().rfc3339), .number("dropped", "\(dropped)"),
                                         LogField.quoted("msg", "access log queue full; lines dropped")])
                }
                // A write error (disk full) loses these lines but must not stop the daemon.
                try? handle.write(contentsOf: Data(text.utf8))
                continue
            }
            if closing { break }
            wakeUp.lock()
            // Re-checked under the condition's lock: a record that came in meanwhile signalled
            // before we waited, and would otherwise sleep until the next one.
            if queue.withLock({ $0.entries.isEmpty && $0.dropped == 0 && !$0.closing }) {
                wakeUp.wait()
            }
            wakeUp.unlock()
        }
        if closesHandle { try? handle.close() }
        finished.lock()
        done.store(true, ordering: .releasing)
        finished.broadcast()
        finished.unlock()
    }

    private func line(for entry: Entry) -> String {
        let milliseconds = Double(entry.durationNanoseconds / 1_000) / 1_000
        return format.line([
            LogField("ts", entry.at.rfc3339), LogField("client", entry.client), LogField("method", entry.method),
            LogField("path", entry.path), .number("status", "\(entry.status)"), .number("bytes", "\(entry.bytes)"),
            .number("duration_ms", "\(milliseconds)"), LogField("backend", entry.backend ?? "-"),
            LogField("request_id", entry.requestID),
        ])
    }
}
