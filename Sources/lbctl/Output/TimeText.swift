import LBStore

/// How times and spans read in tables and reports.
enum TimeText {
    /// RFC 3339 UTC to the second, `2026-11-26T02:10:00Z`: the table form of an instant.
    static func seconds(_ instant: Timestamp) -> String { format(instant, milliseconds: false) }

    /// RFC 3339 UTC with milliseconds, `2026-11-26T02:10:00.123Z`: the same text as
    /// `Timestamp.rfc3339`, written without `String(format:)`, which costs microseconds a call and
    /// dominated printing tens of thousands of events.
    static func rfc3339(_ instant: Timestamp) -> String { format(instant, milliseconds: true) }

    private static func format(_ instant: Timestamp, milliseconds withMilliseconds: Bool) -> String {
        let total = instant.milliseconds
        let millisecond = Int((total % 1_000 + 1_000) % 1_000)
        let seconds = (total - Int64(millisecond)) / 1_000
        let secondOfDay = Int((seconds % 86_400 + 86_400) % 86_400)
        let days = (seconds - Int64(secondOfDay)) / 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3_600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        if withMilliseconds {
            bytes.append(UInt8(ascii: "."))
            digits(millisecond, 3)
        }
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
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
