import Foundation

/// Parses the times and durations operators type: durations (`90s`, `15m`, `2h`, `7d`, `250ms`,
/// `1h30m`) and instants (RFC 3339, local `2026-11-26 02:10[:00]`, `15:04` today, `2h` or `2h ago`,
/// `today`, `yesterday`, `now`).
public enum TimeParsing {
    /// Why a duration or an instant was refused.
    public enum DurationError: Error, Equatable, Sendable {
        /// Not a duration (or instant) at all: an unknown unit, a sign, a fraction, a typo.
        case malformed
        /// A duration, but longer than a signed 64-bit count of milliseconds holds.
        case tooLong
        /// A bare number such as `10`: seconds or minutes is a guess not made; `unitHint` says what to write.
        case noUnit
    }

    /// A duration such as `250ms`, `2s`, `1h30m`, `30d`, in milliseconds; `0` alone needs no unit.
    /// A bare number is `.noUnit`. Never traps: a duration past `Int64.max` milliseconds is `.tooLong`.
    public static func duration(_ text: String) -> Result<Int64, DurationError> {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !text.isEmpty else { return .failure(.malformed) }
        if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // Zero is zero in any unit (as Go's time.ParseDuration has it).
            return text.utf8.allSatisfy({ $0 == UInt8(ascii: "0") }) ? .success(0) : .failure(.noUnit)
        }
        var total: Int64 = 0
        var number = ""
        var index = text.startIndex
        var sawUnit = false
        while index < text.endIndex {
            let character = text[index]
            if character.isASCII && character.isNumber {
                number.append(character)
                index = text.index(after: index)
                continue
            }
            var unit = ""
            while index < text.endIndex, text[index].isLetter {
                unit.append(text[index])
                index = text.index(after: index)
            }
            guard !number.isEmpty, let scale = unitMilliseconds[unit] else { return .failure(.malformed) }
            // Digits that do not fit in Int64 are a duration too long, not a malformed one.
            guard let value = Int64(number) else { return .failure(.tooLong) }
            let (product, overflow) = value.multipliedReportingOverflow(by: scale)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !overflow, !sumOverflow else { return .failure(.tooLong) }
            total = sum
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return .failure(.malformed) }
        return .success(total)
    }

    /// A duration such as `250ms`, `2s`, `1h30m`, `30d`.
    /// Returns nil for anything else, bare numbers, negative values and durations too long to count included.
    public static func milliseconds(fromDuration text: String) -> Int64? {
        try? duration(text).get()
    }

    private static let unitMilliseconds: [String: Int64] = [
        "ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
    ]

    /// An RFC 3339 instant, with or without fractional seconds, `Z` or a numeric offset.
    public static func timestamp(fromRFC3339 text: String) -> Timestamp? {
        let text = text.trimmingCharacters(in: .whitespaces)
        // Date-time, optional fraction, then the zone; parsed by hand so any fraction length works.
        let pattern = #"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#
        guard let match = text.range(of: pattern, options: .regularExpression), match == text.startIndex..<text.endIndex
        else { return nil }
        let digits = text.split(whereSeparator: { !$0.isNumber }).map(String.init)
        guard digits.count >= 6,
              let year = Int(digits[0]), let month = Int(digits[1]), let day = Int(digits[2]),
              let hour = Int(digits[3]), let minute = Int(digits[4]), let second = Int(digits[5]),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fractionMilliseconds: Int64 = 0
        if let dot = text.firstIndex(of: ".") {
            let fraction = text[text.index(after: dot)...].prefix(while: \.isNumber)
            let padded = (fraction + "000").prefix(3)
            fractionMilliseconds = Int64(padded) ?? 0
        }
        var offsetSeconds = 0
        if let last = text.last, last != "Z", last != "z" {
            let zone = text.suffix(6)
            let sign = zone.first == "-" ? -1 : 1
            let parts = zone.dropFirst().split(separator: ":")
            guard parts.count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]), hours < 24, minutes < 60
            else { return nil }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        }
        var components = DateComponents()
        components.year = year
        components.month = month
        components.day = day
        components.hour = hour
        components.minute = minute
        components.second = second
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: components),
              calendar.component(.day, from: date) == day  // rejects 2026-02-31
        else { return nil }
        let seconds = Int64(date.timeIntervalSince1970) - Int64(offsetSeconds)
        return Timestamp(milliseconds: seconds * 1000 + fractionMilliseconds)
    }

    /// What to tell someone who wrote the bare number `text` where a duration goes: `add a unit: 10s`.
    public static func unitHint(_ text: String) -> String {
        "add a unit: \(text.trimmingCharacters(in: .whitespaces))s"
    }

    /// An instant in any form `instant(_:now:timeZone:)` reads, local forms in UTC; nil when refused.
    public static func timestamp(from text: String, now: Timestamp = .now()) -> Timestamp? {
        try? instant(text, now: now, timeZone: TimeZone(identifier: "UTC")!).get()
    }

    /// An instant as an operator types it: RFC 3339 (any offset); `YYYY-MM-DD HH:MM[:SS]` (or with
    /// `T`) and `YYYY-MM-DD` (midnight) in `timeZone`; `HH:MM[:SS]` today in `timeZone`; a duration
    /// (`2h`) or a duration and `ago` (`2h ago`) meaning that long before `now`; `today` and
    /// `yesterday` (their midnight in `timeZone`) and `now`. A bare number is `.noUnit`.
    public static func instant(_ text: String, now: Timestamp, timeZone: TimeZone) -> Result<Timestamp, DurationError> {
        let text = text.trimmingCharacters(in: .whitespaces)
        let lowered = text.lowercased()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let nowDate = Date(timeIntervalSince1970: Double(now.milliseconds) / 1000)
        switch lowered {
        case "now": return .success(now)
        case "today": return .success(timestamp(calendar.startOfDay(for: nowDate)))
        case "yesterday":
            guard let yesterday = calendar.date(byAdding: .day, value: -1, to: calendar.startOfDay(for: nowDate))
            else { return .failure(.malformed) }
            return .success(timestamp(yesterday))
        default: break
        }
        if let instant = timestamp(fromRFC3339: text) { return .success(instant) }
        if let local = localTime(text, now: nowDate, calendar: calendar) { return local }
        let relative = lowered.hasSuffix(" ago") ? String(lowered.dropLast(4)) : lowered
        return duration(relative).map { Timestamp(milliseconds: now.milliseconds - $0) }
    }

    /// `YYYY-MM-DD[( |T)HH:MM[:SS]]` or `HH:MM[:SS]` (on `now`'s day) in `calendar`'s zone; nil when
    /// `text` has neither shape, a failure when it has one but names no such time (`25:00`, `02-31`).
    private static func localTime(_ text: String, now: Date, calendar: Calendar) -> Result<Timestamp, DurationError>? {
        // ASCII digits only (`\d` would take other scripts' digits, which `Int` does not read).
        let dated = #"^([0-9]{4})-([0-9]{2})-([0-9]{2})([Tt ]([0-9]{2}):([0-9]{2})(:([0-9]{2}))?)?$"#
        let timeOnly = #"^([0-9]{1,2}):([0-9]{2})(:([0-9]{2}))?$"#
        let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        var components: DateComponents
        if text.range(of: dated, options: .regularExpression) != nil {
            components = DateComponents(year: numbers[0], month: numbers[1], day: numbers[2])
            components.hour = numbers.count > 3 ? numbers[3] : 0
            components.minute = numbers.count > 4 ? numbers[4] : 0
            components.second = numbers.count > 5 ? numbers[5] : 0
        } else if text.range(of: timeOnly, options: .regularExpression) != nil {
            components = calendar.dateComponents([.year, .month, .day], from: now)
            components.hour = numbers[0]
            components.minute = numbers[1]
            components.second = numbers.count > 2 ? numbers[2] : 0
        } else {
            return nil
        }
        guard let month = components.month, (1...12).contains(month), let day = components.day, (1...31).contains(day),
              let hour = components.hour, hour < 24, let minute = components.minute, minute < 60,
              let second = components.second, second < 60,
              let date = calendar.date(from: components),
              calendar.component(.day, from: date) == day  // rejects 2026-02-31
        else { return .failure(.malformed) }
        return .success(timestamp(date))
    }

    private static func timestamp(_ date: Date) -> Timestamp {
        Timestamp(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }
}
