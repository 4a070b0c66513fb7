/// A backend's health as `/status`, the status page and `/metrics` report it: the daemon's own
/// health where it checks the backend, and `notChecked` where it does not (a disabled backend),
/// rather than the health it had when the checks stopped.
enum ReportedHealth: String, CaseIterable, Sendable {
    case up
    case down
    /// Checked, but no check or try has decided yet.
    case unknown
    /// Not checked (disabled): the daemon has no health to report.
    case notChecked = "not_checked"
}
