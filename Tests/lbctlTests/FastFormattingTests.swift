import LBStore
import Testing
@testable import lbctl

@Suite struct FastFormattingTests {
    @Test(arguments: [Int64(0), 1, 999, 1_000, 951_782_400_000, 1_795_140_000_123, 1_709_164_800_000, -1, -86_400_001,
                      253_402_300_799_999])
    func fastTimestampsMatchTheStoresRFC3339(milliseconds: Int64) {
        let instant = Timestamp(milliseconds: milliseconds)
        #expect(TimeText.rfc3339(instant) == instant.rfc3339)
        #expect(TimeText.seconds(instant) == String(instant.rfc3339.dropLast(5)) + "Z")
    }

    @Test func theDirectEventJSONIsTheSameTextAsTheJSONValue() {
        let events = [
            Event(id: 7, at: Timestamp(milliseconds: 1_795_140_000_123), kind: .failure, backendID: 1,
                  backendURL: "http://127.0.0.1:9001", requestID: "r\"1", attempt: 2, detail: "tab\there\nand é"),
            Event(id: 8, at: Timestamp(milliseconds: 0), kind: .rejected),
            Event(id: 9, at: Timestamp(milliseconds: 5), kind: .refused, detail: "400 bare LF in the head", count: 1_234),
            Event(id: 10, at: Timestamp(milliseconds: 6), kind: .statusChange, backendID: 2, backendURL: "http://b:1",
                  detail: "up->down", data: EventData(from: "up", to: "down", cause: .traffic, threshold: 3,
                                                      evidence: [Evidence(at: Timestamp(milliseconds: 5), source: .request,
                                                                          requestID: "r\"2", error: "refused é/x")])),
        ]
        for event in events {
            #expect(EventFormatter.compactJSON(event) == EventFormatter.json(event).compact)
        }
    }
}
