import NIOCore

extension TimeAmount {
    /// A short human form for logs and event details: `250ms`, `2s`, `1m30s`.
    var humanDescription: String {
        let milliseconds = nanoseconds / 1_000_000
        if milliseconds < 1_000 || milliseconds % 1_000 != 0 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1_000
        if seconds < 60 || seconds % 60 != 0 { return seconds >= 60 ? "\(seconds / 60)m\(seconds % 60)s" : "\(seconds)s" }
        return "\(seconds / 60)m"
    }
}
