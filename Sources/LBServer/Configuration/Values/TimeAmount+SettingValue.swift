import LBStore
import NIOCore

/// A duration setting: `250ms`, `2s`, `1h30m`, `7d` (`0` alone needs no unit), read by the same
/// parser as `lbctl`'s durations. A bare number is refused with the unit to add; one too long for
/// NIO's nanosecond count is refused, never a trap.
extension TimeAmount: BoundedSettingValue {
    static let placeholder = "duration"
    static let expected = "a duration such as 250ms, 2s or 1m"
    /// The longest duration a `TimeAmount` holds, in whole milliseconds (about 292 years).
    static let longestMilliseconds = Int64.max / 1_000_000

    init(settingText text: String) throws(SettingProblem) {
        switch TimeParsing.duration(text) {
        case .success(let milliseconds) where milliseconds <= Self.longestMilliseconds:
            self = .milliseconds(milliseconds)
        case .success, .failure(.tooLong):
            throw SettingProblem(reason: .duration("a duration of at most \(Self.longestMilliseconds / 86_400_000)d"),
                                 given: text)
        case .failure(.noUnit):
            throw SettingProblem(reason: .explained("'\(text)' has no unit; \(TimeParsing.unitHint(text))"), given: text)
        case .failure(.malformed):
            throw SettingProblem(reason: .duration(Self.expected), given: text)
        }
    }

    init(settingText text: String, atLeast minimum: TimeAmount) throws(SettingProblem) {
        try self.init(settingText: text)
        guard self >= minimum else {
            throw SettingProblem(reason: .duration("a duration of at least \(minimum.settingText)"), given: text)
        }
    }

    /// In the largest unit that holds it whole: `1h`, `75s`, `250ms`, `0s`.
    var settingText: String {
        let milliseconds = nanoseconds / 1_000_000
        guard milliseconds > 0 else { return "0s" }
        let units: [(String, Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        for (unit, size) in units where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
