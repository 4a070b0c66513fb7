import LBStore

/// How times and spans read in tables and reports.
enum TimeText {
    /// RFC 3339 UTC to the second, `2026-11-26T02:10:00Z`: the table form of an instant.
    static func seconds(_ instant: Timestamp) -> String {
        let full = instant.rfc3339
        // rfc3339 always ends in ".mmmZ".
        return String(full.dropLast(5)) + "Z"
    }

    /// A span as a person reads it: `850ms`, `42s`, `5m 03s`, `2h 05m`, `36h 00m`, `3d 4h`.
    static func duration(milliseconds: Int64) -> String {
        let ms = max(0, milliseconds)
        if ms == 0 { return "0s" }
        if ms < 1_000 { return "\(ms)ms" }
        let seconds = ms / 1_000
        if seconds < 60 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 60 { return "\(minutes)m \(twoDigits(seconds % 60))s" }
        let hours = minutes / 60
        if hours < 48 { return "\(hours)h \(twoDigits(minutes % 60))m" }
        return "\(hours / 24)d \(hours % 24)h"
    }

    /// "5m 03s ago" relative to `now`.
    static func ago(_ instant: Timestamp, now: Timestamp) -> String {
        duration(milliseconds: now.milliseconds - instant.milliseconds) + " ago"
    }

    /// A ratio as a percentage with two decimals, or "-" when there is none.
    static func percent(_ ratio: Double?) -> String {
        guard let ratio else { return "-" }
        let hundredths = Int((ratio * 10_000).rounded())
        return "\(hundredths / 100).\(twoDigits(Int64(hundredths % 100)))%"
    }

    private static func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
    private static func twoDigits(_ value: Int) -> String { twoDigits(Int64(value)) }
}
