import ArgumentParser
import Foundation
import LBStore

/// Turns the times and durations an operator types into values, or a one-line exit-65 error that
/// says what was expected.
enum TimeArgument {
    static let expected = "expected 2h or 2h ago, 15:04, 2026-11-26 02:10, today, yesterday, or an RFC 3339 instant "
        + "such as 2026-11-26T02:10:00Z"

    /// `--since`, and `--from` meaning the same (the one vocabulary of every command with a window).
    static let sinceNames: NameSpecification = [.customLong("since"), .customLong("from")]
    /// `--until`, and `--to` meaning the same.
    static let untilNames: NameSpecification = [.customLong("until"), .customLong("to")]

    /// The forms a time takes, for the help of the commands that take one.
    static let helpText = """
        A time is an RFC 3339 instant (2026-11-26T02:10:00Z, any offset), a local date and time \
        (2026-11-26 02:10, seconds optional; a date alone is its midnight), a local time today (15:04), \
        a duration meaning that long ago (90s, 15m, 2h, 7d, 1h30m; also written 2h ago), today, \
        yesterday or now. Local means the TZ environment variable's zone, else the system's. \
        A bare number is refused: add a unit.
        """

    /// An instant in any of the forms `helpText` lists; local forms are read in `timeZone`.
    static func instant(_ text: String, option: String, now: Timestamp,
                        timeZone: TimeZone = .current) throws(CLIError) -> Timestamp {
        switch TimeParsing.instant(text, now: now, timeZone: timeZone) {
        case .success(let instant):
            return instant
        case .failure(.tooLong):
            throw .malformed("time '\(text)' for \(option) is a duration too long to count")
        case .failure(.noUnit):
            throw .malformed("time '\(text)' for \(option) has no unit: \(TimeParsing.unitHint(text)) (that long ago)")
        case .failure(.malformed):
            throw .malformed("malformed time '\(text)' for \(option): \(expected)")
        }
    }

    /// Checks that `instant`, asked for with `option`, lies in the recorded past: not after `now`
    /// and not before the log's first record (`firstRecord`, nil for an empty log), where nothing
    /// recorded says what held. Messages write times as `times` does.
    static func checkRecorded(_ instant: Timestamp, option: String, now: Timestamp, firstRecord: Timestamp?,
                              times: TimeDisplay) throws(CLIError) {
        let text = times.milliseconds(instant)
        guard instant <= now else {
            throw .malformed("\(option) \(text) is in the future (it is now \(times.milliseconds(now)))")
        }
        guard let firstRecord else {
            throw .malformed("\(option) \(text) is before the database's first record: it holds no events yet")
        }
        guard instant >= firstRecord else {
            throw .malformed("\(option) \(text) is before the database's first record (\(times.milliseconds(firstRecord)))")
        }
    }

    /// A non-negative duration in milliseconds; one too long for 64 bits is refused, never a trap.
    static func duration(_ text: String, option: String) throws(CLIError) -> Int64 {
        switch TimeParsing.duration(text) {
        case .success(let milliseconds):
            return milliseconds
        case .failure(.tooLong):
            throw .malformed("duration '\(text)' for \(option) is too long to count")
        case .failure(.noUnit):
            throw .malformed("duration '\(text)' for \(option) has no unit: \(TimeParsing.unitHint(text))")
        case .failure(.malformed):
            throw .malformed("malformed duration '\(text)' for \(option): expected for example 90s, 15m, 2h, 30d")
        }
    }

    /// The window `[since, until)`; an absent bound is `defaultStart` / `defaultEnd`. Messages write
    /// times as `times` does.
    static func window(since: String?, until: String?, defaultStart: Timestamp, defaultEnd: Timestamp, now: Timestamp,
                       times: TimeDisplay, sinceOption: String = "--since",
                       untilOption: String = "--until") throws(CLIError) -> TimeRange {
        let start = try since.map { text throws(CLIError) in try instant(text, option: sinceOption, now: now) } ?? defaultStart
        let end = try until.map { text throws(CLIError) in try instant(text, option: untilOption, now: now) } ?? defaultEnd
        guard start <= end else {
            throw .malformed("\(untilOption) \(times.milliseconds(end)) is before \(sinceOption) \(times.milliseconds(start))")
        }
        return TimeRange(start: start, end: end)
    }
}
