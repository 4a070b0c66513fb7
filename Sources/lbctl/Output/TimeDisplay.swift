import Foundation
import LBStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How instants read for a person: the wall-clock time of the zone `TZ` names (else the system's
/// `/etc/localtime`), as `date` reads them, with its offset: `2026-12-03 09:14:05+01:00`; or UTC,
/// `2026-12-03 08:14:05Z`, with `--utc` or in a zone that is UTC all year. Either text is an RFC
/// 3339 instant that `--since`, `--until` and `--at` read back as the same instant.
///
/// The offset is the C library's (`localtime_r`'s `tm_gmtoff`) for each instant, so both sides of
/// a daylight-saving change read right. It is cached per UTC hour whose two ends have the same
/// offset (no zone changes twice within an hour), which keeps a sorted run of instants to one
/// cache hit each. Where Foundation, which reads the local times typed as `--since` (`TimeArgument`),
/// sees another zone than the C library (a POSIX rule in `TZ`, `CET-1CEST,M3.5.0,M10.5.0/3`,
/// which only the C library reads), Foundation's zone is shown instead, so that a local time typed
/// and the same time shown always agree. Not thread-safe: one belongs to one command's printing.
final class TimeDisplay {
    /// True when every instant is written in UTC with `Z`.
    let isUTC: Bool
    /// Foundation's zone where it differs from the C library's, nil where they agree.
    private let foundationZone: TimeZone?
    private var cachedHour = Int64.min
    private var cachedOffset = 0

    /// UTC when `utc` (the `--utc` flag), else the process's local zone.
    init(utc: Bool) {
        if utc {
            isUTC = true
            foundationZone = nil
            return
        }
        tzset()
        let now = Int64(time(nil))
        let samples = [now, now + 182 * 86_400]
        let current = TimeZone.current
        let agree = samples.allSatisfy {
            Self.libraryOffset(atSecond: $0) == current.secondsFromGMT(for: Date(timeIntervalSince1970: Double($0)))
        }
        foundationZone = agree ? nil : current
        // A zone without an offset now and half a year on never has one (UTC, GMT, Etc/UTC): say
        // UTC as `Z`; a zone at +00:00 only part of the year says +00:00.
        isUTC = samples.allSatisfy {
            agree ? Self.libraryOffset(atSecond: $0) == 0 : current.secondsFromGMT(for: Date(timeIntervalSince1970: Double($0))) == 0
        }
    }

    /// To the second: `2026-12-03 09:14:05+01:00`.
    func seconds(_ instant: Timestamp) -> String { text(instant, milliseconds: false) }

    /// With milliseconds: `2026-12-03 09:14:05.123+01:00`.
    func milliseconds(_ instant: Timestamp) -> String { text(instant, milliseconds: true) }

    private func text(_ instant: Timestamp, milliseconds: Bool) -> String {
        let offset = offsetSeconds(at: instant)
        // An offset with seconds (local mean time, before about 1970) has no RFC 3339 form: +00:00 then.
        return TimeText.format(instant, offsetSeconds: offset % 60 == 0 ? offset : 0, separator: UInt8(ascii: " "),
                               milliseconds: milliseconds, zulu: isUTC)
    }

    /// Seconds east of UTC of the wall clock at `instant` (0 in UTC).
    func offsetSeconds(at instant: Timestamp) -> Int {
        guard !isUTC else { return 0 }
        let millisecond = instant.milliseconds
        let second = (millisecond >= 0 ? millisecond : millisecond - 999) / 1_000
        let hour = (second >= 0 ? second : second - 3_599) / 3_600
        if hour == cachedHour { return cachedOffset }
        let start = offset(atSecond: hour * 3_600)
        guard start == offset(atSecond: hour * 3_600 + 3_599) else {
            // The offset changes within this hour: ask for the instant itself.
            return offset(atSecond: second)
        }
        cachedHour = hour
        cachedOffset = start
        return start
    }

    private func offset(atSecond second: Int64) -> Int {
        guard let foundationZone else { return Self.libraryOffset(atSecond: second) }
        return foundationZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(second)))
    }

    private static func libraryOffset(atSecond second: Int64) -> Int {
        var time = time_t(second)
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return 0 }
        return Int(parts.tm_gmtoff)
    }
}
