import CSQLite
import Foundation
import Synchronization

/// The single writer of the daemon's high-rate records: events, check results, health and the
/// round-robin cursor.
///
/// Callers on any thread (event loops included) hand records over with `record…` calls that take
/// a short lock and never wait for I/O. One dedicated thread owns the write connection and commits
/// what is queued in batches: one transaction per batch, a batch started no later than
/// `maximumDelay` after its first record. The queue is bounded; what does not fit is counted and
/// written later as a `dropped` event. When the database cannot be written (locked, read-only,
/// full) the batch is kept and retried with back-off, so nothing is lost until the queue fills.
public final class EventWriter: @unchecked Sendable {
    // @unchecked Sendable: every mutable field below is read and written only while holding
    // `condition`, except `connection`, which only the writer thread touches after `init`.

    /// Sizes and delays of the writer.
    public struct Configuration: Sendable {
        /// Records held in memory at most; beyond it they are counted as dropped.
        public var capacity: Int
        /// Records committed in one transaction at most.
        public var maximumBatch: Int
        /// Longest time a record waits before its batch starts.
        public var maximumDelay: Duration
        /// First wait before retrying a failed batch; doubles up to `maximumRetryDelay`.
        public var retryDelay: Duration
        public var maximumRetryDelay: Duration
        public var busyTimeoutMilliseconds: Int32

        public init(capacity: Int = 100_000, maximumBatch: Int = 10_000, maximumDelay: Duration = .milliseconds(20),
                    retryDelay: Duration = .milliseconds(100), maximumRetryDelay: Duration = .seconds(2),
                    busyTimeoutMilliseconds: Int32 = 1_000) {
            self.capacity = capacity
            self.maximumBatch = maximumBatch
            self.maximumDelay = maximumDelay
            self.retryDelay = retryDelay
            self.maximumRetryDelay = maximumRetryDelay
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        }
    }

    public let configuration: Configuration
    private let condition = NSCondition()
    private var pending: [WriteOperation] = []
    private var pendingSince: ContinuousClock.Instant?
    private var droppedSinceLastWrite = 0
    private var isClosed = false
    /// Set by `retire()`: the daemon handed over to a successor, which owns the shared state now.
    private let isRetired = Atomic<Bool>(false)
    private var isFinished = false
    /// Called on the writer thread once it has finished (`close(then:)`).
    private var finishHandlers: [@Sendable () -> Void] = []
    private var statistics = WriterStatistics(written: 0, dropped: 0, pending: 0, batches: 0, failedBatches: 0,
                                              lastError: nil, lastCommitMicroseconds: 0)
    /// Operations of a failed batch held for its next try (counted as pending).
    private var held = 0
    /// Where what cannot be committed by the close is kept for the next start.
    private let spill: SpillFile
    /// The WAL's size once a checkpoint emptied it (SQLite's `journal_size_limit`): a big batch
    /// may grow it past this, and the next checkpoint brings it back.
    public static let walSizeLimit = 4 << 20
    /// How often the writer checkpoints the WAL into the database on its own (SQLite also does
    /// after every 1 000 pages written), never waiting for readers.
    static let checkpointInterval: Duration = .seconds(30)
    private let path: String
    /// The file opened at `path`: each batch first checks that the path still names it, so that
    /// nothing is written into a file deleted, renamed or replaced under the daemon.
    private let openedFile: FileIdentity?
    /// The spill file's records are among those not yet committed (their commit at the start
    /// failed): the file is removed once they are, and rewritten without its old copy.
    private var spillOutstanding = false
    /// What the start found in a spill file left by the last stop: how many records, when they
    /// were spilled, and whether they are committed already (else they are the writer's first
    /// batch, retried as any other). Nil when there was none.
    public private(set) var recoveredFromSpill: (records: Int, spilledAt: Timestamp, committed: Bool)?
    private let connection: SQLiteConnection
    private var currentRun: [Int64: (id: Int64, passed: Bool)] = [:]
    private let errorHandler: @Sendable (StoreError) -> Void
    /// The daemon whose records these are: it names every event and health run that names no
    /// other, and keeps its row in `instances` (start, heartbeat, clean stop).
    public let instance: InstanceIdentity?

    /// Opens (creating and migrating if needed) the database at `path` and starts the writer thread.
    ///
    /// `onError` is called on the writer thread for each failed batch; the writer keeps retrying.
    public init(path: String, instance: InstanceIdentity? = nil, configuration: Configuration = Configuration(),
                onError: @escaping @Sendable (StoreError) -> Void = { _ in }) throws {
        self.configuration = configuration
        self.errorHandler = onError
        self.instance = instance
        connection = try SQLiteConnection(path: path, mode: .readWriteCreate,
                                    busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        self.path = path
        openedFile = FileIdentity.of(path)
        try Migrator.prepare(connection)
        // A WAL that a checkpoint has emptied is cut back to this size when writing restarts.
        try connection.execute("PRAGMA journal_size_limit=\(Self.walSizeLimit)")
        pending.reserveCapacity(min(configuration.capacity, 4_096))
        spill = SpillFile(databasePath: path)
        let unwritten = recoverSpill()
        spill.makeReserve()
        let thread = Thread { [self] in self.run(carrying: unwritten) }
        thread.name = "lb-event-writer"
        thread.start()
    }

    // MARK: Handing records over (any thread, never blocks on I/O)

    /// Queues an event; returns false (and counts it, as many times as it stands for occurrences)
    /// when the queue is full.
    @discardableResult
    public func record(_ event: Event) -> Bool { enqueue(.event(event), occurrences: event.count) }

    /// Queues a health check result, merged into the backend's current run of equal results.
    @discardableResult
    public func record(_ check: CheckResult) -> Bool { enqueue(.check(check)) }

    /// Queues the end of a backend's checks (it was removed or disabled): its current run of
    /// results ends with its last check, and the next check starts a new one.
    @discardableResult
    public func recordChecksStopped(backendID: Int64) -> Bool { enqueue(.checksStopped(backendID: backendID)) }

    /// Queues a change of a backend's last known health.
    @discardableResult
    public func recordHealth(backendID: Int64, health: Health, since: Timestamp) -> Bool {
        enqueue(.health(backendID: backendID, health: health, since: since))
    }

    /// Queues the round-robin cursor to be saved.
    @discardableResult
    public func recordCursor(_ cursor: Int64, at now: Timestamp = .now()) -> Bool {
        guard !isRetired.load(ordering: .relaxed) else { return false }
        return enqueue(.cursor(cursor, at: now))
    }

    /// Queues the daemon's start time; `listen`, the address it is bound to (a port the OS chose
    /// included), goes into its row of `instances` in place of the configured one.
    @discardableResult
    public func recordStart(at now: Timestamp = .now(), listen: String? = nil) -> Bool {
        enqueue(.started(now, listen: listen))
    }

    /// Queues a mark that the daemon's saved state is current now (its age at the next start is
    /// measured from the latest such mark).
    @discardableResult
    public func recordHeartbeat(at now: Timestamp = .now()) -> Bool {
        guard !isRetired.load(ordering: .relaxed) else { return false }
        return enqueue(.heartbeat(now))
    }

    /// Queues the daemon's clean stop time.
    @discardableResult
    public func recordCleanStop(at now: Timestamp = .now()) -> Bool {
        guard !isRetired.load(ordering: .relaxed) else { return false }
        return enqueue(.stoppedCleanly(now))
    }

    /// The daemon handed over to a successor that shares this database and instance name: from now
    /// on the balancer's saved state (cursor, heartbeat, clean stop) and the instance's row are the
    /// successor's, and this writer leaves them alone. Events and check results are still written.
    public func retire() {
        isRetired.store(true, ordering: .relaxed)
    }

    /// Calls `completion` on the writer thread once everything queued so far is committed (true),
    /// or the attempt to commit it failed (false). Never blocks the caller.
    public func afterCommit(_ completion: @escaping @Sendable (Bool) -> Void) {
        // A barrier is never dropped: it carries no data and someone is waiting for it.
        condition.lock()
        if isFinished {
            condition.unlock()
            completion(false)
            return
        }
        pending.append(.barrier(completion))
        if pendingSince == nil { pendingSince = .now }
        condition.signal()
        condition.unlock()
    }

    /// Blocks until everything queued so far is committed or `timeout` passes; true if committed.
    /// Not for event-loop threads.
    public func flush(timeout: Duration = .seconds(10)) -> Bool {
        let done = NSCondition()
        nonisolated(unsafe) var outcome: Bool?
        afterCommit { committed in
            done.lock()
            outcome = committed
            done.signal()
            done.unlock()
        }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        done.lock()
        defer { done.unlock() }
        while outcome == nil {
            if !done.wait(until: deadline) { return false }
        }
        return outcome ?? false
    }

    /// Writes what is queued, stops the thread and closes the connection; later records are dropped.
    public func close(timeout: Duration = .seconds(10)) {
        _ = flush(timeout: timeout)
        condition.lock()
        isClosed = true
        condition.signal()
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while !isFinished {
            if !condition.wait(until: deadline) { break }
        }
        condition.unlock()
    }

    /// Writes what is queued, then stops the thread and closes the connection as `close()` does,
    /// and calls `completion` once the thread has finished; never blocks the caller. For callers
    /// that must not wait on a lock (Swift concurrency's threads); later records are dropped.
    public func close(then completion: @escaping @Sendable () -> Void) {
        // The barrier first, as `close()` flushes first: a failing database gets the same retries.
        afterCommit { [self] _ in
            condition.lock()
            guard !isFinished else {
                condition.unlock()
                completion()
                return
            }
            isClosed = true
            finishHandlers.append(completion)
            condition.signal()
            condition.unlock()
        }
    }

    /// The spill file of this writer's database (`DATABASE-spill`).
    public var spillPath: String { spill.path }

    /// True once the writer thread has finished (after a close, or `close(then:)`).
    public var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return isFinished
    }

    /// A snapshot of the counters.
    public var currentStatistics: WriterStatistics {
        condition.lock()
        defer { condition.unlock() }
        var snapshot = statistics
        snapshot.pending = pending.count + held
        return snapshot
    }

    private func enqueue(_ operation: WriteOperation, occurrences: Int = 1) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isClosed, pending.count < configuration.capacity else {
            droppedSinceLastWrite += max(1, occurrences)
            statistics.dropped += max(1, occurrences)
            return false
        }
        pending.append(operation)
        // Wake the writer only when it may be waiting for work: on the first record of a batch
        // and when a full batch is ready. A signal per record would cost a syscall per record.
        if pending.count == 1 {
            pendingSince = .now
            condition.signal()
        } else if pending.count == configuration.maximumBatch {
            condition.signal()
        }
        return true
    }

    // MARK: The spill file

    /// Commits what the last stop left in the spill file, before anything else is written (the
    /// state a start restores is read after this), and removes the file. When the database
    /// cannot take them now, returns them for the writer thread's first batch. A file that cannot
    /// be read is moved aside (`…-spill.unreadable-MS`) and reported, never overwritten.
    private func recoverSpill() -> [WriteOperation] {
        let contents: SpillFile.Contents
        do {
            guard let read = try spill.read() else { return [] }
            contents = read
        } catch {
            let aside = "\(spill.path).unreadable-\(Timestamp.now().milliseconds)"
            rename(spill.path, aside)
            errorHandler(StoreError(.sqlite, "the spill file of the last stop cannot be read (\(error)); kept as \(aside)"))
            return []
        }
        // Records of another database (the file deleted and made anew since) would be written
        // against backends they never named: kept aside for an operator instead.
        if !namesBackendsOfThisDatabase(contents) {
            let aside = "\(spill.path).other-database-\(Timestamp.now().milliseconds)"
            rename(spill.path, aside)
            errorHandler(StoreError(.orphaned, "the spill file of the last stop belongs to another database file than "
                                    + "\(path) (its backends are not this one's); kept as \(aside)"))
            return []
        }
        recoveredFromSpill = (contents.operations.count, contents.writtenAt, false)
        do {
            try commit(contents.operations, dropped: 0, outage: nil)
            statistics.written += contents.operations.count
            spill.remove()
            recoveredFromSpill?.committed = true
            return []
        } catch {
            let storeError = error as? StoreError ?? StoreError(.sqlite, "\(error)")
            guard [.busy, .full, .readOnly, .orphaned].contains(storeError.kind) else {
                // Not a passing condition: the records do not fit this database (another one
                // now at the path, say). Kept aside for an operator, never retried for ever.
                let aside = "\(spill.path).unwritable-\(Timestamp.now().milliseconds)"
                rename(spill.path, aside)
                recoveredFromSpill = nil
                errorHandler(StoreError(storeError.kind, "the spill file of the last stop cannot be written into \(path) "
                                        + "(\(storeError.message)); kept as \(aside)"))
                return []
            }
            errorHandler(storeError)
            spillOutstanding = true
            return contents.operations
        }
    }

    /// Whether every backend the spilled records name is in this database and was added before
    /// they were spilled (a database made anew at the path numbers its own backends from 1). A
    /// database that cannot be read now gets the benefit of the doubt; its writes will tell.
    private func namesBackendsOfThisDatabase(_ contents: SpillFile.Contents) -> Bool {
        for id in contents.backendIDs {
            guard let statement = try? connection.statement("SELECT added_at FROM backends WHERE id = ?") else { return true }
            defer { connection.releaseStatements() }
            guard (try? statement.bind(.integer(id))) != nil, let found = try? statement.step() else { return true }
            guard found, statement.int64(0) <= contents.writtenAt.milliseconds else { return false }
        }
        return true
    }

    /// Keeps `unwritten` (and an account of the outage) in the spill file at the close; returns
    /// how many records it kept and how many occurrences are lost (it did not fit, or the file
    /// could not be written: the disk that is full may be the database's).
    private func spillAtClose(_ unwritten: [WriteOperation], dropped: Int, outage: Outage?) -> (kept: Int, lost: Int) {
        var records = unwritten.filter { !$0.isBarrier }
        guard !records.isEmpty || dropped > 0 else { return (0, 0) }
        let now = Timestamp.now()
        if let outage {
            let seconds = Double(now.milliseconds - outage.since.milliseconds) / 1000
            records.insert(.event(Event(at: now, kind: .storeError, detail: """
                the event log could not be written from \(outage.since.rfc3339) for \(String(format: "%.1f", seconds))s \
                (\(outage.failedBatches) failed batches): \(outage.firstError); at the stop the records not yet \
                written were kept in \(spill.path) and follow
                """, instance: instance?.name)), at: 0)
        }
        if dropped > 0 {
            records.append(.event(Event(at: now, kind: .dropped,
                                        detail: "\(dropped) records could not be queued for the database (queue full)",
                                        instance: instance?.name)))
        }
        // As the writer counts drops: a coalesced event is as many as it stands for.
        func occurrences(_ operations: ArraySlice<WriteOperation>) -> Int {
            operations.reduce(0) { total, operation in
                if case .event(let event) = operation { return total + max(1, event.count) }
                return total + 1
            }
        }
        do {
            let kept = try spill.write(records, instance: instance?.name, replacingItsOwn: spillOutstanding)
            let lost = occurrences(records[kept...])
            if lost > 0 {
                errorHandler(StoreError(.full, "the spill file \(spill.path) is full (\(SpillFile.maximumBytes >> 20) MiB): "
                                        + "\(lost) records not kept"))
            }
            return (kept, lost)
        } catch {
            errorHandler(error as? StoreError ?? StoreError(.sqlite, "\(error)"))
            return (0, occurrences(records[...]))
        }
    }

    // MARK: The writer thread

    private func run(carrying recovered: [WriteOperation]) {
        var retryDelay = configuration.retryDelay
        var carried = recovered
        var lastCheckpoint = ContinuousClock.now
        // An outage has ended: once its backlog is written, the WAL is emptied and truncated.
        var truncateAfterBacklog = false
        // An unwritable stretch, recorded as one `store_error` event by the first commit after it.
        var outage: Outage?
        while true {
            var batch = carried
            carried = []
            condition.lock()
            // Wait for work: a full batch, the oldest record's delay spent, a barrier, or close.
            while true {
                if isClosed || pending.count + batch.count >= configuration.maximumBatch { break }
                if !batch.isEmpty && pending.isEmpty { break }
                if let since = pendingSince {
                    let due = since + configuration.maximumDelay
                    if ContinuousClock.now >= due || pending.contains(where: \.isBarrier) { break }
                    _ = condition.wait(until: Date().addingTimeInterval((due - ContinuousClock.now).seconds))
                } else {
                    condition.wait()
                }
            }
            let room = max(0, configuration.maximumBatch - batch.count)
            if pending.count <= room {
                batch += pending
                pending.removeAll(keepingCapacity: true)
                pendingSince = nil
            } else {
                batch += pending[..<room]
                pending.removeFirst(room)
                pendingSince = .now
            }
            let dropped = droppedSinceLastWrite
            droppedSinceLastWrite = 0
            let closing = isClosed
            condition.unlock()

            if batch.isEmpty && dropped == 0 {
                if closing { break }
                continue
            }
            let started = ContinuousClock.now
            // A failed batch is rolled back, runs it started included; they are started again.
            let runsBefore = currentRun
            do {
                try commit(batch, dropped: dropped, outage: outage)
                if outage != nil { truncateAfterBacklog = true }
                outage = nil
                let elapsed = ContinuousClock.now - started
                retryDelay = configuration.retryDelay
                if spillOutstanding {
                    // The spill file's records were the first batch: committed now.
                    spillOutstanding = false
                    spill.remove()
                }
                condition.lock()
                held = 0
                statistics.written += batch.count(where: { !$0.isBarrier })
                statistics.batches += 1
                statistics.lastError = nil
                statistics.lastCommitMicroseconds = Int(elapsed.seconds * 1_000_000)
                condition.unlock()
                for case .barrier(let completion) in batch { completion(true) }
                condition.lock()
                let backlogWritten = pending.count < configuration.maximumBatch
                condition.unlock()
                if truncateAfterBacklog && backlogWritten {
                    truncateAfterBacklog = false
                    checkpoint("TRUNCATE")
                    lastCheckpoint = .now
                    // A full disk may have taken the spill's reserve: made again once there is room.
                    spill.makeReserve()
                } else if ContinuousClock.now - lastCheckpoint >= Self.checkpointInterval {
                    checkpoint("PASSIVE")
                    lastCheckpoint = .now
                }
            } catch {
                let storeError = error as? StoreError ?? StoreError(.sqlite, "\(error)")
                currentRun = runsBefore
                if outage == nil { outage = Outage(since: .now(), firstError: storeError.message) }
                outage?.failedBatches += 1
                condition.lock()
                statistics.failedBatches += 1
                statistics.lastError = storeError.message
                droppedSinceLastWrite += dropped
                carried = batch.filter { !$0.isBarrier }
                held = carried.count
                condition.unlock()
                errorHandler(storeError)
                // Keep the data for the next try; waiters learn now that it is not yet durable.
                for case .barrier(let completion) in batch { completion(false) }
                if closing { break }
                condition.lock()
                _ = condition.wait(until: Date().addingTimeInterval(retryDelay.seconds))
                condition.unlock()
                retryDelay = min(retryDelay * 2, configuration.maximumRetryDelay)
            }
        }
        connection.close()
        condition.lock()
        let leftovers = pending
        pending.removeAll()
        let droppedAtClose = droppedSinceLastWrite
        droppedSinceLastWrite = 0
        condition.unlock()
        // What the database would not take by the close goes to the spill file.
        let (kept, lost) = spillAtClose(carried + leftovers, dropped: droppedAtClose, outage: outage)
        condition.lock()
        held = 0
        statistics.spilled += kept
        statistics.dropped += lost
        isFinished = true
        let handlers = finishHandlers
        finishHandlers.removeAll()
        condition.broadcast()
        condition.unlock()
        for case .barrier(let completion) in leftovers { completion(false) }
        for handler in handlers { handler() }
    }

    /// Copies the WAL into the database: `PASSIVE` as far as readers allow, never waiting;
    /// `TRUNCATE` all of it and the WAL file cut to nothing, waiting up to the busy timeout for
    /// readers. A checkpoint that cannot finish now is no error: the next one goes on.
    private func checkpoint(_ mode: String) {
        try? connection.execute("PRAGMA wal_checkpoint(\(mode))")
    }

    /// The size of the database's WAL file in bytes (0 when there is none).
    public var walBytes: Int {
        var info = stat()
        guard stat(path + "-wal", &info) == 0 else { return 0 }
        return Int(info.st_size)
    }

    /// A stretch of time in which no batch could be committed.
    private struct Outage {
        var since: Timestamp
        var firstError: String
        var failedBatches = 0
    }

    /// Applies a batch in one transaction, with the records that account for an outage or for
    /// records that did not fit the queue.
    private func commit(_ batch: [WriteOperation], dropped: Int, outage: Outage?) throws {
        if let openedFile { try FileIdentity.check(path, opened: openedFile) }
        try connection.transaction {
            if let outage {
                let now = Timestamp.now()
                let seconds = Double(now.milliseconds - outage.since.milliseconds) / 1000
                try Store.insert(Event(at: now, kind: .storeError, detail: """
                    the event log could not be written from \(outage.since.rfc3339) for \(String(format: "%.1f", seconds))s \
                    (\(outage.failedBatches) failed batches): \(outage.firstError); the records queued meanwhile follow
                    """, instance: instance?.name), into: connection)
            }
            let insertEvent = try connection.sqliteStatement(Store.eventInsertSQL)
            for operation in batch {
                if case .event(var event) = operation {
                    if event.instance == nil { event.instance = instance?.name }
                    try Store.insert(event, using: insertEvent)
                } else {
                    try apply(operation)
                }
            }
            if dropped > 0 {
                try Store.insert(Event(at: .now(), kind: .dropped,
                                       detail: "\(dropped) records could not be queued for the database (queue full)",
                                       instance: instance?.name),
                                 into: connection)
            }
        }
    }

    private func apply(_ operation: WriteOperation) throws {
        switch operation {
        case .event(var event):
            if event.instance == nil { event.instance = instance?.name }
            try Store.insert(event, into: connection)
        case .check(let check):
            try merge(check)
        case .health(let backendID, let health, let since):
            try connection.statement(
                "UPDATE backends SET health = ?, health_since = ? WHERE id = ? AND health <> ?")
                .bind(.text(health.rawValue), .integer(since.milliseconds), .integer(backendID), .text(health.rawValue))
                .run()
            if let instance {
                try connection.statement("""
                    INSERT INTO backend_health (backend_id, instance, health, since) VALUES (?, ?, ?, ?)
                    ON CONFLICT (backend_id, instance) DO UPDATE SET health = excluded.health, since = excluded.since
                    WHERE backend_health.health <> excluded.health
                    """)
                    .bind(.integer(backendID), .text(instance.name), .text(health.rawValue), .integer(since.milliseconds))
                    .run()
            }
        case .cursor(let cursor, let now):
            try connection.statement("UPDATE balancer_state SET cursor = ?, saved_at = ? WHERE id = 1")
                .bind(.integer(cursor), .integer(now.milliseconds)).run()
            try renewHeartbeat(at: now)
        case .started(let now, let listen):
            try connection.statement("UPDATE balancer_state SET last_start = ?, saved_at = ? WHERE id = 1")
                .bind(.integer(now.milliseconds), .integer(now.milliseconds)).run()
            if var instance {
                if let listen { instance.listen = listen }
                try Store.registerInstance(instance, at: now, in: connection)
            }
        case .stoppedCleanly(let now):
            try connection.statement("UPDATE balancer_state SET last_clean_stop = ?, saved_at = ? WHERE id = 1")
                .bind(.integer(now.milliseconds), .integer(now.milliseconds)).run()
            if let instance {
                try connection.statement("UPDATE instances SET stopped_at = ?, heartbeat_at = ? WHERE name = ?")
                    .bind(.integer(now.milliseconds), .integer(now.milliseconds), .text(instance.name)).run()
            }
        case .checksStopped(let backendID):
            currentRun[backendID] = nil
        case .heartbeat(let now):
            try connection.statement("UPDATE balancer_state SET saved_at = ? WHERE id = 1")
                .bind(.integer(now.milliseconds)).run()
            try renewHeartbeat(at: now)
        case .barrier:
            break
        }
    }

    private func renewHeartbeat(at now: Timestamp) throws {
        guard let instance else { return }
        try connection.statement("UPDATE instances SET heartbeat_at = ? WHERE name = ?")
            .bind(.integer(now.milliseconds), .text(instance.name)).run()
    }

    /// Extends the backend's current run when the result is the same, else starts a new run.
    private func merge(_ check: CheckResult) throws {
        // Only a run this writer's checks made is extended: a run recorded before (by the daemon
        // before a restart) ended when its checks stopped, and the stretch between is unchecked.
        if let run = currentRun[check.backendID], run.passed == check.passed {
            try connection.statement("""
                UPDATE health_runs SET last_at = max(last_at, ?), count = count + 1,
                    latency_min_ms = min(latency_min_ms, ?), latency_max_ms = max(latency_max_ms, ?),
                    latency_sum_ms = latency_sum_ms + ?, last_error = coalesce(?, last_error)
                WHERE id = ?
                """)
                .bind(.integer(check.at.milliseconds), .real(check.latencyMilliseconds), .real(check.latencyMilliseconds),
                      .real(check.latencyMilliseconds), .optional(check.error), .integer(run.id))
                .run()
            // The run may have been pruned by another connection; then start a new one.
            if connection.changes == 1 { return }
        }
        try connection.statement("""
            INSERT INTO health_runs (backend_id, passed, first_at, last_at, count, latency_min_ms, latency_max_ms,
                                     latency_sum_ms, last_error, instance)
            VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
            """)
            .bind(.integer(check.backendID), .integer(check.passed ? 1 : 0), .integer(check.at.milliseconds),
                  .integer(check.at.milliseconds), .real(check.latencyMilliseconds), .real(check.latencyMilliseconds),
                  .real(check.latencyMilliseconds), .optional(check.error), .optional(instance?.name))
            .run()
        currentRun[check.backendID] = (connection.lastInsertRowID, check.passed)
    }
}

extension WriteOperation {
    var isBarrier: Bool {
        if case .barrier = self { return true }
        return false
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
