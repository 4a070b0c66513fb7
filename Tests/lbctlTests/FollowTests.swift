import Foundation
import LBStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct FollowTests {
    @Test(arguments: [["--json"], [], ["--csv"]])
    func followPrintsAnEventWrittenAfterItStartedAndNothingTwice(format: [String]) throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        let store = try Store(path: path)
        let backend = try store.addBackend(url: "http://127.0.0.1:9001", actor: "t")
        try store.record(Event(at: .now(), kind: .failure, backendID: backend.id, requestID: "before-start"))

        let output = folder.url.appendingPathComponent("follow.out")
        let process = try folder.lbctl.start(["--db", path, "events", "--follow", "--kind", "failure"] + format,
                                             standardOutput: output, standardError: folder.url.appendingPathComponent("follow.err"))
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        func printed() -> String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        // It has printed the log so far once its first line with the old event is out.
        #expect(eventually { printed().contains("before-start") })

        // An event of another kind is filtered out; the failure written after it is printed.
        try store.record(Event(at: .now(), kind: .retry, backendID: backend.id, requestID: "filtered-out"))
        try store.record(Event(at: .now(), kind: .failure, backendID: backend.id, requestID: "after-start",
                               detail: "written while following"))
        #expect(eventually { printed().contains("after-start") })
        #expect(process.isRunning)

        let text = printed()
        #expect(!text.contains("filtered-out"))
        #expect(text.components(separatedBy: "before-start").count == 2)
        #expect(text.components(separatedBy: "after-start").count == 2)
        if format == ["--json"] {
            // One object per line while following.
            let lines = text.split(separator: "\n")
            #expect(lines.count == 2)
            for line in lines { #expect(try JSONSerialization.jsonObject(with: Data(line.utf8)) is [String: Any]) }
        }
    }
}
