/// Counters that tell whether the event log is keeping up, for logs, metrics and the status page.
public struct WriterStatistics: Hashable, Sendable {
    /// Operations committed to the database.
    public var written: Int
    /// Operations that could not be recorded: the queue was full. A coalesced event counts as the
    /// occurrences it stands for, so the loss of a row of 500 rejected answers reads as 500.
    public var dropped: Int
    /// Operations waiting to be written.
    public var pending: Int
    /// Batches committed (transactions).
    public var batches: Int
    /// Batches whose transaction failed (and were retried).
    public var failedBatches: Int
    /// The last write error, cleared once a batch commits again.
    public var lastError: String?
    /// Wall time of the last batch commit in microseconds.
    public var lastCommitMicroseconds: Int

    public var isFailing: Bool { lastError != nil }
}
