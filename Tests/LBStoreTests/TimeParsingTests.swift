import Testing
@testable import LBStore

@Suite struct TimeParsingTests {
    @Test(arguments: [("250ms", 250), ("2s", 2_000), ("90s", 90_000), ("15m", 900_000), ("2h", 7_200_000),
                      ("1h30m", 5_400_000), ("30d", 2_592_000_000), ("1w", 604_800_000), ("5", 5_000), (" 3s ", 3_000)])
    func durationsOperatorsTypeAreParsed(text: String, expected: Int64) {
        #expect(TimeParsing.milliseconds(fromDuration: text) == expected)
    }

    @Test(arguments: ["", "s", "-5s", "5x", "1.5h", "h1", "10 s", "99999999999999999999s"])
    func malformedDurationsAreRejected(text: String) {
        #expect(TimeParsing.milliseconds(fromDuration: text) == nil)
    }

    @Test(arguments: ["99999999999999999h", "9223372036854775808ms", "99999999999999999999",
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
}
