/// Counters that tell whether the event log is keeping up, for logs, metrics and the status page.
public struct WriterStatistics: Hashable, Sendable {
    /// Operations committed to the database.
    public var written: Int
    /// Operations that could not be recorded: the queue was full. A coalesced event counts as the
    /// occurrences it stands for, so the loss of a row of 500 rejected answers reads as 500.
    public var dropped: Int
    /// Operations waiting to be written: those queued, and a batch held for its next try while
    /// the database cannot be written.
    public var pending: Int
    /// Batches committed (transactions).
    public var batches: Int
    /// Batches whose transaction failed (and were retried).
    public var failedBatches: Int
    /// The last write error, cleared once a batch commits again.
    public var lastError: String?
    /// Wall time of the last batch commit in microseconds.
    public var lastCommitMicroseconds: Int
    /// Operations that could not be committed when the writer closed and were kept in the spill
    /// file for the next start (`SpillFile`).
    public var spilled = 0

    public var isFailing: Bool { lastError != nil }
}
