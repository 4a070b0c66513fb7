import Foundation
import Testing
@testable import LBStore

@Suite struct TimeParsingTests {
    @Test(arguments: [("250ms", 250), ("2s", 2_000), ("90s", 90_000), ("15m", 900_000), ("2h", 7_200_000),
                      ("1h30m", 5_400_000), ("30d", 2_592_000_000), ("1w", 604_800_000), ("0", 0), ("000", 0), (" 3s ", 3_000)])
    func durationsOperatorsTypeAreParsed(text: String, expected: Int64) {
        #expect(TimeParsing.milliseconds(fromDuration: text) == expected)
    }

    @Test(arguments: ["", "s", "-5s", "5x", "1.5h", "h1", "10 s", "99999999999999999999s"])
    func malformedDurationsAreRejected(text: String) {
        #expect(TimeParsing.milliseconds(fromDuration: text) == nil)
    }

    @Test(arguments: ["5", "10", " 10 ", "99999999999999999999", "007"])
    func aBareNumberIsRefusedForWantOfAUnitWithAHint(text: String) {
        #expect(TimeParsing.duration(text) == .failure(.noUnit))
        #expect(TimeParsing.milliseconds(fromDuration: text) == nil)
        #expect(TimeParsing.unitHint(text) == "add a unit: \(text.trimmingCharacters(in: .whitespaces))s")
    }

    @Test(arguments: ["99999999999999999h", "9223372036854775808ms",
                      "5000000000000000000ms5000000000000000000ms", "106751991168d"])
    func aDurationTooLongToCountIsRefusedNotATrap(text: String) {
        #expect(TimeParsing.duration(text) == .failure(.tooLong))
        #expect(TimeParsing.milliseconds(fromDuration: text) == nil)
    }

    @Test func theLongestDurationThatFitsIsParsedAndMalformedIsToldApart() {
        #expect(TimeParsing.duration("9223372036854775807ms") == .success(Int64.max))
        #expect(TimeParsing.duration("soon") == .failure(.malformed))
        #expect(TimeParsing.duration("-5s") == .failure(.malformed))
    }

    @Test func rfc3339InstantsWithFractionsAndOffsetsAreParsed() {
        #expect(TimeParsing.timestamp(fromRFC3339: "1970-01-01T00:00:01Z")?.milliseconds == 1_000)
        #expect(TimeParsing.timestamp(fromRFC3339: "2026-11-26T10:48:39.123Z")?.rfc3339 == "2026-11-26T10:48:39.123Z")
        #expect(TimeParsing.timestamp(fromRFC3339: "2026-11-26T12:48:39.5+02:00")?.rfc3339 == "2026-11-26T10:48:39.500Z")
        #expect(TimeParsing.timestamp(fromRFC3339: "2026-11-26T05:48:39.123456-05:00")?.rfc3339 == "2026-11-26T10:48:39.123Z")
        #expect(TimeParsing.timestamp(fromRFC3339: "2026-02-31T00:00:00Z") == nil)
        #expect(TimeParsing.timestamp(fromRFC3339: "2026-11-26") == nil)
        #expect(TimeParsing.timestamp(fromRFC3339: "yesterday") == nil)
    }

    @Test func aDurationAsAnInstantMeansThatLongAgo() {
        let now = Timestamp(milliseconds: 10_000_000)
        #expect(TimeParsing.timestamp(from: "1h", now: now) == Timestamp(milliseconds: 6_400_000))
        #expect(TimeParsing.timestamp(from: "1970-01-01T00:00:02Z", now: now)?.milliseconds == 2_000)
    }

    // MARK: Instants as operators type them, read against a fixed now and zone.

    /// 2026-11-26T14:30:00Z: 15:30 in Berlin (UTC+1 in November).
    static let now = TimeParsing.timestamp(fromRFC3339: "2026-11-26T14:30:00Z")!
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let utc = TimeZone(identifier: "UTC")!

    private func instant(_ text: String, now: Timestamp = Self.now, in zone: TimeZone = Self.berlin) -> String? {
        (try? TimeParsing.instant(text, now: now, timeZone: zone).get())?.rfc3339
    }

    @Test(arguments: [
        ("2026-11-26T02:10:00Z", "2026-11-26T02:10:00.000Z"),
        ("2026-11-26T03:10:00.250+01:00", "2026-11-26T02:10:00.250Z"),
        ("2026-11-26 02:10", "2026-11-26T01:10:00.000Z"),
        ("2026-11-26 02:10:30", "2026-11-26T01:10:30.000Z"),
        ("2026-11-26T02:10", "2026-11-26T01:10:00.000Z"),
        ("2026-11-26", "2026-11-25T23:00:00.000Z"),
        ("2026-07-01 12:00", "2026-07-01T10:00:00.000Z"),
        ("15:04", "2026-11-26T14:04:00.000Z"),
        ("9:05:07", "2026-11-26T08:05:07.000Z"),
        ("2h", "2026-11-26T12:30:00.000Z"),
        ("2h ago", "2026-11-26T12:30:00.000Z"),
        ("1h30m ago", "2026-11-26T13:00:00.000Z"),
        (" 90s ", "2026-11-26T14:28:30.000Z"),
        ("0s", "2026-11-26T14:30:00.000Z"),
        ("now", "2026-11-26T14:30:00.000Z"),
        ("today", "2026-11-25T23:00:00.000Z"),
        ("Today", "2026-11-25T23:00:00.000Z"),
        ("yesterday", "2026-11-24T23:00:00.000Z"),
    ])
    func everyFormOfInstantIsReadInTheLocalZone(text: String, expected: String) {
        #expect(instant(text) == expected)
    }

    @Test func localFormsFollowTheZoneAndItsDate() {
        #expect(instant("15:04", in: Self.utc) == "2026-11-26T15:04:00.000Z")
        #expect(instant("today", in: Self.utc) == "2026-11-26T00:00:00.000Z")
        #expect(instant("2026-11-26 02:10", in: Self.utc) == "2026-11-26T02:10:00.000Z")
        // 23:30 UTC is already the 27th in Berlin: today and a bare time are the 27th's there.
        let lateEvening = TimeParsing.timestamp(fromRFC3339: "2026-11-26T23:30:00Z")!
        #expect(instant("today", now: lateEvening) == "2026-11-26T23:00:00.000Z")
        #expect(instant("yesterday", now: lateEvening) == "2026-11-25T23:00:00.000Z")
        #expect(instant("15:04", now: lateEvening) == "2026-11-27T14:04:00.000Z")
        #expect(instant("15:04", now: lateEvening, in: Self.utc) == "2026-11-26T15:04:00.000Z")
    }

    @Test(arguments: ["10", "10 ago", "1700000000"])
    func aBareNumberIsNoInstant(text: String) {
        #expect(TimeParsing.instant(text, now: Self.now, timeZone: Self.berlin) == .failure(.noUnit))
    }

    @Test(arguments: ["", "soon", "ago", "tomorrow", "25:00", "12:60", "12:00:60", "2026-02-31 10:00", "2026-13-01",
                      "2026-11-26 24:00", "-2h", "2h later", "ago 2h", "2026-11-26 02:10 PM", "15:04 today", "1.5h", "١٢:٣٠"])
    func whatIsNoTimeIsRefused(text: String) {
        #expect(TimeParsing.instant(text, now: Self.now, timeZone: Self.berlin) == .failure(.malformed), "\(text)")
    }

    @Test func aRelativeTimeTooLongToCountIsToldApart() {
        #expect(TimeParsing.instant("99999999999999999h ago", now: Self.now, timeZone: Self.berlin) == .failure(.tooLong))
    }
}
