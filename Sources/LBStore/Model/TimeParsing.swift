import Foundation

/// Parses the times and durations operators type: `90s`, `15m`, `2h`, `7d`, `250ms`, `1h30m`, and
/// RFC 3339 instants (`2026-11-26T02:10:00Z`, fractional seconds and any offset allowed).
public enum TimeParsing {
    /// Why a duration was refused.
    public enum DurationError: Error, Equatable, Sendable {
        /// Not a duration at all: no unit, an unknown unit, a sign, a fraction.
        case malformed
        /// A duration, but longer than a signed 64-bit count of milliseconds holds.
        case tooLong
    }

    /// A duration such as `250ms`, `2s`, `1h30m`, `30d`, or a bare number of seconds, in
    /// milliseconds. Never traps: a duration past `Int64.max` milliseconds is `.tooLong`.
    public static func duration(_ text: String) -> Result<Int64, DurationError> {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !text.isEmpty else { return .failure(.malformed) }
        if let seconds = Int64(text) {
            guard seconds >= 0 else { return .failure(.malformed) }
            let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            return overflow ? .failure(.tooLong) : .success(product)
        }
        if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) { return .failure(.tooLong) }
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

    /// A duration such as `250ms`, `2s`, `1h30m`, `30d`, or a bare number of seconds.
    /// Returns nil for anything else, negative values and durations too long to count included.
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

    /// An instant given either as RFC 3339 or as a duration meaning "that long before `now`".
    public static func timestamp(from text: String, now: Timestamp = .now()) -> Timestamp? {
        if let instant = timestamp(fromRFC3339: text) { return instant }
        if let ago = milliseconds(fromDuration: text) { return Timestamp(milliseconds: now.milliseconds - ago) }
        return nil
    }
}
