import Foundation

/// The records an `EventWriter` could not commit by the time it was closed (the database locked,
/// read-only or its disk full at the stop), kept in a side file next to the database,
/// `DATABASE-spill`, until the next writer on that database commits them first of all.
///
/// JSON Lines: a header line (`{"records":N,"spill":1,"written_at":MS}`), then one record a line,
/// in the order they were queued. Written to a temporary file, fsynced, renamed over the spill
/// file and the directory fsynced, so a crash leaves the old file or the new one, never half of
/// one. A spill file that is already there (its records not yet committed) is kept: the new
/// records follow its own. At most `maximumBytes`: what would not fit is counted and said.
struct SpillFile {
    let path: String

    /// 64 MiB: the writer's whole queue (100 000 records) of ordinary events fits several times.
    static let maximumBytes = 64 << 20

    init(databasePath: String) {
        path = databasePath + "-spill"
    }

    /// What a spill file held.
    struct Contents {
        var writtenAt: Timestamp
        var operations: [WriteOperation]

        /// The backends the records name.
        var backendIDs: Set<Int64> {
            Set(operations.compactMap { operation in
                switch operation {
                case .event(let event): event.backendID
                case .check(let check): check.backendID
                case .health(let backendID, _, _), .checksStopped(let backendID): backendID
                default: nil
                }
            })
        }
    }

    /// The records kept in the file, or nil when there is none. Throws when it cannot be read or
    /// a line is not a record (the file is then left for an operator to look at).
    func read() throws -> Contents? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var lines = data.split(separator: UInt8(ascii: "\n"))
        guard !lines.isEmpty else { return Contents(writtenAt: .now(), operations: []) }
        let decoder = JSONDecoder()
        let header = try decoder.decode(Header.self, from: Data(lines.removeFirst()))
        let operations = try lines.map { line in try decoder.decode(Line.self, from: Data(line)).operation() }
        return Contents(writtenAt: Timestamp(milliseconds: header.writtenAt), operations: operations)
    }

    /// Writes `operations` after the records the file already holds (barriers left out), durably;
    /// `replacingItsOwn`: `operations` begin with the file's records, which are not kept twice.
    /// Returns how many of `operations` were kept; the rest did not fit `maximumBytes`.
    func write(_ operations: [WriteOperation], instance: String?, replacingItsOwn: Bool = false) throws -> Int {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = Data()
        var records = 0
        if !replacingItsOwn, let existing = try? read() {
            for operation in existing.operations {
                guard let line = Line(operation, instance: nil) else { continue }
                body += try encoder.encode(line) + Data([UInt8(ascii: "\n")])
                records += 1
            }
        }
        var kept = 0
        for operation in operations {
            guard let line = Line(operation, instance: instance) else { continue }
            let encoded = try encoder.encode(line) + Data([UInt8(ascii: "\n")])
            guard body.count + encoded.count <= Self.maximumBytes else { break }
            body += encoded
            records += 1
            kept += 1
        }
        let header = try encoder.encode(Header(spill: 1, writtenAt: Timestamp.now().milliseconds, records: records))
        let contents = header + Data([UInt8(ascii: "\n")]) + body
        do {
            try Self.writeDurably(contents, to: path)
        } catch let error as StoreError where error.kind == .full && unlink(reservePath) == 0 {
            // The disk the database filled is this one too: the reserve makes the room.
            try Self.writeDurably(contents, to: path)
        }
        return kept
    }

    /// Room kept on the database's disk for a spill: a file of `reserveBytes` made beforehand,
    /// removed when the disk is full at a stop so the spill can be written. Made at each start
    /// and after each outage, when it is missing and the disk has room; never an error.
    var reservePath: String { path + ".reserve" }
    static let reserveBytes = 16 << 20

    func makeReserve() {
        guard access(reservePath, F_OK) != 0 else { return }
        let fd = open(reservePath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let allocated = posix_fallocate(fd, 0, off_t(Self.reserveBytes)) == 0 && fsync(fd) == 0
        close(fd)
        if !allocated { unlink(reservePath) }
    }

    /// Removes the file once its records are committed, and makes that removal durable.
    func remove() {
        guard unlink(path) == 0 else { return }
        Self.syncDirectory(of: path)
    }

    private static func writeDurably(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw StoreError(code == ENOSPC || code == EDQUOT ? .full : .sqlite,
                             "cannot create \(temporary): \(String(cString: strerror(code)))")
        }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0, rename(temporary, path) == 0 else {
            let code = failure == 0 ? errno : failure
            unlink(temporary)
            throw StoreError(code == ENOSPC || code == EDQUOT ? .full : .sqlite,
                             "cannot write \(path): \(String(cString: strerror(code)))")
        }
        syncDirectory(of: path)
    }

    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private struct Header: Codable {
        var spill: Int
        var writtenAt: Int64
        var records: Int

        enum CodingKeys: String, CodingKey {
            case spill
            case writtenAt = "written_at"
            case records
        }
    }

    /// One record as a line: `record` names the kind of write, the other fields are its values.
    private struct Line: Codable {
        var record: String
        var at: Int64?
        var kind: String?
        var backendID: Int64?
        var requestID: String?
        var attempt: Int?
        var detail: String?
        var data: EventData?
        var count: Int?
        var instance: String?
        var passed: Bool?
        var latencyMs: Double?
        var error: String?
        var health: String?
        var cursor: Int64?
        var listen: String?

        enum CodingKeys: String, CodingKey {
            case record, at, kind
            case backendID = "backend_id"
            case requestID = "request_id"
            case attempt, detail, data, count, instance, passed
            case latencyMs = "latency_ms"
            case error, health, cursor, listen
        }

        /// nil for a barrier, which is not a record.
        init?(_ operation: WriteOperation, instance writer: String?) {
            switch operation {
            case .event(let event):
                record = "event"
                at = event.at.milliseconds
                kind = event.kind.rawValue
                backendID = event.backendID
                requestID = event.requestID
                attempt = event.attempt
                detail = event.detail
                data = event.data
                count = event.count
                instance = event.instance ?? writer
            case .check(let check):
                record = "check"
                at = check.at.milliseconds
                backendID = check.backendID
                passed = check.passed
                latencyMs = check.latencyMilliseconds
                error = check.error
            case .health(let backend, let value, let since):
                record = "health"
                backendID = backend
                health = value.rawValue
                at = since.milliseconds
            case .cursor(let value, let now):
                record = "cursor"
                cursor = value
                at = now.milliseconds
            case .started(let now, let address):
                record = "started"
                at = now.milliseconds
                listen = address
            case .stoppedCleanly(let now):
                record = "stopped_cleanly"
                at = now.milliseconds
            case .heartbeat(let now):
                record = "heartbeat"
                at = now.milliseconds
            case .checksStopped(let backend):
                record = "checks_stopped"
                backendID = backend
            case .barrier:
                return nil
            }
        }

        func operation() throws -> WriteOperation {
            let time = Timestamp(milliseconds: at ?? 0)
            switch record {
            case "event":
                guard let kind = kind.flatMap(EventKind.init(rawValue:)) else { throw Self.invalid("event kind") }
                return .event(Event(at: time, kind: kind, backendID: backendID, requestID: requestID, attempt: attempt,
                                    detail: detail, data: data, count: count ?? 1, instance: instance))
            case "check":
                guard let backendID, let passed else { throw Self.invalid("check") }
                return .check(CheckResult(backendID: backendID, at: time, passed: passed,
                                          latencyMilliseconds: latencyMs ?? 0, error: error))
            case "health":
                guard let backendID, let health = health.flatMap(Health.init(rawValue:)) else {
                    throw Self.invalid("health")
                }
                return .health(backendID: backendID, health: health, since: time)
            case "cursor":
                guard let cursor else { throw Self.invalid("cursor") }
                return .cursor(cursor, at: time)
            case "started": return .started(time, listen: listen)
            case "stopped_cleanly": return .stoppedCleanly(time)
            case "heartbeat": return .heartbeat(time)
            case "checks_stopped":
                guard let backendID else { throw Self.invalid("checks_stopped") }
                return .checksStopped(backendID: backendID)
            default: throw Self.invalid("record '\(record)'")
            }
        }

        private static func invalid(_ what: String) -> StoreError {
            StoreError(.sqlite, "spill file: not a valid \(what)")
        }
    }
}
