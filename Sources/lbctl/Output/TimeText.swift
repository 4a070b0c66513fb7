import LBStore

/// How times and spans read in tables and reports.
///
/// Machine output (`--json`, `--csv`) writes RFC 3339 UTC (`rfc3339`); text for a person writes
/// the wall-clock time of a zone with its offset through `TimeDisplay`, on the same fast writer.
enum TimeText {
    /// RFC 3339 UTC to the second, `2026-11-26T02:10:00Z`.
    static func seconds(_ instant: Timestamp) -> String {
        format(instant, offsetSeconds: 0, separator: UInt8(ascii: "T"), milliseconds: false, zulu: true)
    }

    /// RFC 3339 UTC with milliseconds, `2026-11-26T02:10:00.123Z`: the same text as
    /// `Timestamp.rfc3339`, written without `String(format:)`, which costs microseconds a call and
    /// dominated printing tens of thousands of events.
    static func rfc3339(_ instant: Timestamp) -> String {
        format(instant, offsetSeconds: 0, separator: UInt8(ascii: "T"), milliseconds: true, zulu: true)
    }

    /// `instant` as the wall-clock time `offsetSeconds` east of UTC: `2026-12-03 09:14:05+01:00`
    /// (with `.123` before the offset when `milliseconds`), or `…08:14:05Z` when `zulu` (UTC).
    /// RFC 3339 with a space for the `T` (its section 5.6 allows it), so `TimeParsing` reads it back.
    /// The offset is written to the minute: the caller passes only whole-minute offsets.
    static func format(_ instant: Timestamp, offsetSeconds: Int, separator: UInt8, milliseconds withMilliseconds: Bool,
                       zulu: Bool) -> String {
        let total = instant.milliseconds
        let millisecond = Int((total % 1_000 + 1_000) % 1_000)
        let seconds = (total - Int64(millisecond)) / 1_000 + Int64(offsetSeconds)
        let secondOfDay = Int((seconds % 86_400 + 86_400) % 86_400)
        let days = (seconds - Int64(secondOfDay)) / 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let length = 19 + (withMilliseconds ? 4 : 0) + (zulu ? 1 : 6)
        // One allocation, written byte by byte: this runs for every row of tens of thousands.
        return String(unsafeUninitializedCapacity: length) { buffer in
            let zero = UInt8(ascii: "0")
            @inline(__always) func two(_ value: Int, at index: Int) {
                buffer[index] = zero &+ UInt8(truncatingIfNeeded: value / 10)
                buffer[index + 1] = zero &+ UInt8(truncatingIfNeeded: value % 10)
            }
            two(year / 100 % 100, at: 0)
            two(year % 100, at: 2)
            buffer[4] = UInt8(ascii: "-")
            two(month, at: 5)
            buffer[7] = UInt8(ascii: "-")
            two(day, at: 8)
            buffer[10] = separator
            two(secondOfDay / 3_600, at: 11)
            buffer[13] = UInt8(ascii: ":")
            two(secondOfDay / 60 % 60, at: 14)
            buffer[16] = UInt8(ascii: ":")
            two(secondOfDay % 60, at: 17)
            var index = 19
            if withMilliseconds {
                buffer[19] = UInt8(ascii: ".")
                buffer[20] = zero &+ UInt8(truncatingIfNeeded: millisecond / 100)
                two(millisecond % 100, at: 21)
                index = 23
            }
            if zulu {
                buffer[index] = UInt8(ascii: "Z")
                return index + 1
            }
            let minutes = abs(offsetSeconds) / 60
            buffer[index] = offsetSeconds < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+")
            two(minutes / 60 % 100, at: index + 1)
            buffer[index + 3] = UInt8(ascii: ":")
            two(minutes % 60, at: index + 4)
            return index + 6
        }
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`).
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
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
