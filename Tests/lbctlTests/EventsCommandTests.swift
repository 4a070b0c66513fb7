import Foundation
import LBStore
import Testing

@Suite struct EventsCommandTests {
    /// 02:00:00Z on the day the fixtures happen.
    static let base = TimeParsing.timestamp(fromRFC3339: "2026-11-20T02:00:00Z")!

    static func at(minutes: Int64, seconds: Int64 = 0) -> Timestamp {
        base.adding(milliseconds: minutes * 60_000 + seconds * 1_000)
    }

    /// Two backends and, every minute from 02:00 to 02:59, a failure of one of them (alternating),
    /// a retry of the first one every ten minutes, and one 503 that names no backend at 02:30.
    static func seed(_ path: String) throws -> (a: Backend, b: Backend) {
        let store = try Store(path: path)
        let a = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t", at: base.adding(milliseconds: -3_600_000))
        let b = try store.addBackend(url: "http://127.0.0.1:9002", actor: "t", at: base.adding(milliseconds: -3_600_000))
        let writer = try EventWriter(path: path)
        for minute in 0..<60 {
            writer.record(Event(at: at(minutes: Int64(minute)), kind: .failure, backendID: minute % 2 == 0 ? a.id : b.id,
                                requestID: "req-\(minute)", attempt: 1, detail: "connection refused"))
            if minute % 10 == 0 {
                writer.record(Event(at: at(minutes: Int64(minute), seconds: 1), kind: .retry, backendID: a.id,
                                    requestID: "req-\(minute)", attempt: 2))
            }
        }
        writer.record(Event(at: at(minutes: 30, seconds: 2), kind: .rejected, requestID: "req-30",
                            detail: "503 Service Unavailable, \"no backend\"\nafter 3 attempts"))
        #expect(writer.flush())
        writer.close()
        return (a, b)
    }

    @Test func aWindowIsFilteredByBackendAndKindAndPrintedNewestLast() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, _) = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "events", "--since", "2026-11-20T02:10:00Z",
                                           "--until", "2026-11-20T02:20:00Z", "--backend", a.url,
                                           "--kind", "failure", "--kind", "retry", "--json"])
        #expect(result.status == 0)
        let events = try JSONDocument.array(result.standardOutput)
        // Failures of a at 10, 12, ... 18 and the retry at 10:01; the window's end is exclusive.
        #expect(events.map { $0["request_id"] as? String } == ["req-10", "req-10", "req-12", "req-14", "req-16", "req-18"])
        #expect(events.map { $0["kind"] as? String } == ["failure", "retry", "failure", "failure", "failure", "failure"])
        #expect(events.allSatisfy { $0["backend"] as? String == a.url })
        let times = events.compactMap { $0["at"] as? String }
        #expect(times == times.sorted())

        let commaSeparated = try folder.lbctl.run(["--db", path, "events", "--since", "2026-11-20T02:10:00Z",
                                                   "--until", "2026-11-20T02:20:00Z", "--backend", a.url,
                                                   "--kind", "failure,retry", "--json"])
        #expect(commaSeparated.standardOutput == result.standardOutput)
    }

    @Test func theJSONHasTheDocumentedShapeWithNullForWhatIsMissing() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        let result = try folder.lbctl.run(["--db", path, "events", "--kind", "rejected", "--json"])
        let events = try JSONDocument.array(result.standardOutput)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(Set(event.keys) == ["id", "at", "kind", "backend", "request_id", "attempt", "detail", "count", "instance", "data"])
        #expect(event["id"] is Int)
        #expect(event["at"] as? String == "2026-11-20T02:30:02.000Z")
        #expect(event["kind"] as? String == "rejected")
        #expect(event["backend"] is NSNull)
        #expect(event["attempt"] is NSNull)
        #expect(event["request_id"] as? String == "req-30")
        #expect(event["detail"] as? String == "503 Service Unavailable, \"no backend\"\nafter 3 attempts")
        #expect(event["count"] as? Int == 1)
    }

    @Test func theTableIsAlignedAndTheCSVQuotesWhatNeedsIt() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try Self.seed(path)
        let window = ["--since", "2026-11-20T02:30:00Z", "--until", "2026-11-20T02:31:00Z"]
        let table = try folder.lbctl.run(["--db", path, "events"] + window)
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("AT ") == true)
        #expect(lines.count == 4)  // header, failure, retry, 503: its line break is shown as \n
        #expect(lines[3].hasSuffix("\"no backend\"\\nafter 3 attempts"))
        let kindColumn = try #require(lines[0].range(of: "KIND")).lowerBound.utf16Offset(in: lines[0])
        #expect(lines[1].dropFirst(kindColumn).hasPrefix("failure"))
        #expect(lines[2].dropFirst(kindColumn).hasPrefix("retry"))
        #expect(lines[3].dropFirst(kindColumn).hasPrefix("rejected"))

        let csv = try folder.lbctl.run(["--db", path, "events", "--csv"] + window)
        #expect(csv.status == 0)
        let expectedTail = "2026-11-20T02:30:02.000Z,rejected,,req-30,,\"503 Service Unavailable, \"\"no backend\"\"\nafter 3 attempts\",1,\n"
        #expect(csv.standardOutput.hasPrefix("id,at,kind,backend,request_id,attempt,detail,count,instance\n"))
        #expect(csv.standardOutput.hasSuffix(expectedTail))
    }

    @Test func aCoalescedRowShowsItsCountAsTimesNInTheTableAndAsCountInJSONAndCSV() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        try store.record(Event(at: Self.at(minutes: 1), kind: .rejected, requestID: "r1", detail: "503 no backend available",
                               data: EventData(requestIDs: ["r1", "r2"], clients: ["127.0.0.1"]), count: 4_812))
        try store.record(Event(at: Self.at(minutes: 2), kind: .refused, detail: "400 bare LF in the head"))
        let window = ["--since", "2026-11-20T02:00:00Z", "--until", "2026-11-20T02:10:00Z"]
        let table = try folder.lbctl.run(["--db", path, "events"] + window)
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[1].hasSuffix("503 no backend available ×4812"))
        #expect(lines[2].hasSuffix("400 bare LF in the head"))
        let json = try JSONDocument.array(try folder.lbctl.run(["--db", path, "events", "--json"] + window).standardOutput)
        #expect(json.map { $0["count"] as? Int } == [4_812, 1])
        #expect(json.map { $0["kind"] as? String } == ["rejected", "refused"])
        let csv = try folder.lbctl.run(["--db", path, "events", "--csv"] + window).standardOutput
        #expect(csv.contains(",503 no backend available,4812,\n"))
        let refusedOnly = try folder.lbctl.run(["--db", path, "events", "--kind", "refused", "--json"] + window)
        #expect(try JSONDocument.array(refusedOnly.standardOutput).count == 1)
    }

    @Test func theJSONCarriesTheStructuredDataWhyReadsAndNullWithoutIt() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "alice", command: "lbctl add http://127.0.0.1:9001",
                                           at: Self.at(minutes: 0))
        try store.record(Event(at: Self.at(minutes: 1), kind: .statusChange, backendID: backend.id, requestID: "r1",
                               detail: "up->down cause=traffic",
                               data: EventData(from: "up", to: "down", cause: .traffic, threshold: 3,
                                               evidence: [Evidence(at: Self.at(minutes: 1), source: .request, requestID: "r1",
                                                                   attempt: 1, error: "connection refused")])))
        try store.record(Event(at: Self.at(minutes: 2), kind: .failure, backendID: backend.id, detail: "old row"))
        let window = ["--since", "2026-11-20T02:00:00Z", "--until", "2026-11-20T02:10:00Z"]
        for arguments in [["events", "--json"] + window, ["events", "--json", "--limit", "5"]] {
            let json = try JSONDocument.array(try folder.lbctl.run(["--db", path] + arguments).standardOutput)
            #expect(json.count == 3)
            let add = try #require(json[0]["data"] as? [String: Any])
            #expect(add["actor"] as? String == "alice" && add["command"] as? String == "lbctl add http://127.0.0.1:9001")
            let change = try #require(json[1]["data"] as? [String: Any])
            #expect(change["cause"] as? String == "traffic" && change["threshold"] as? Int == 3)
            let evidence = try #require(change["evidence"] as? [[String: Any]])
            #expect(evidence.first?["request_id"] as? String == "r1")
            #expect(evidence.first?["error"] as? String == "connection refused")
            #expect(json[2]["data"] is NSNull)
        }
    }

    @Test func aLimitKeepsTheNewestAndNoWindowMeansTheNewestHundred() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let (a, _) = try Self.seed(path)
        let newest = try JSONDocument.array(try folder.lbctl.run(["--db", path, "events", "--kind", "failure",
                                                                  "--limit", "3", "--json"]).standardOutput)
        #expect(newest.map { $0["request_id"] as? String } == ["req-57", "req-58", "req-59"])

        let store = try Store(path: path)
        for index in 0..<150 {
            try store.record(Event(at: Self.at(minutes: 90, seconds: Int64(index)), kind: .attempt, backendID: a.id,
                                   requestID: "late-\(index)"))
        }
        let all = try JSONDocument.array(try folder.lbctl.run(["--db", path, "events", "--json"]).standardOutput)
        #expect(all.count == 100)
        #expect(all.last?["request_id"] as? String == "late-149")
        #expect(all.first?["request_id"] as? String == "late-50")
    }
}
