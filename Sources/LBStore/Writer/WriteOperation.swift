/// One unit of work for the writer thread, applied in order within a batch transaction.
enum WriteOperation: Sendable {
    case event(Event)
    case check(CheckResult)
    /// Sets a backend's last known health and the time it changed.
    case health(backendID: Int64, health: Health, since: Timestamp)
    case cursor(Int64, at: Timestamp)
    /// The backend's checks stopped: its current run of results is over.
    case checksStopped(backendID: Int64)
    /// The daemon started; `listen` is the address it is bound to, when known.
    case started(Timestamp, listen: String?)
    case stoppedCleanly(Timestamp)
    /// The daemon is alive and its saved state current as of this instant.
    case heartbeat(Timestamp)
    /// Called once everything queued before it has been committed (true) or failed to (false).
    case barrier(@Sendable (Bool) -> Void)
}
