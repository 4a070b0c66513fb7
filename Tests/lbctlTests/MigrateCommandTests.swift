import Foundation
import LBStore
import PostgresTestServer
import Testing
@testable import LBStore

/// `lbctl migrate --from FILE --to URL` against the test run's PostgreSQL server: a seeded
/// single-node file answers why, backends --at, audit, history and events the same on the fleet's
/// database, with its ids; a target that holds records, or a source whose daemon runs, is refused.
@Suite struct MigrateCommandTests {
    static let urls = IncidentLog.urls

    /// The incident, and a check a minute on a from 02:00 to 02:59 (failing 02:20 to 02:30).
    static func seed(_ path: String) throws {
        let log = try IncidentLog.write(to: path)
        let a = try log.id(urls.a)
        let writer = try EventWriter(path: path)
        for minute in 0..<60 {
            let passed = !(20..<30).contains(minute)
            writer.record(CheckResult(backendID: a, at: EventsCommandTests.at(minutes: Int64(minute)), passed: passed,
                                      latencyMilliseconds: Double(minute % 5) + 1, error: passed ? nil : "connection refused"))
        }
        #expect(writer.flush())
        writer.close()
    }

    /// The read commands whose answers must not change, each in text and JSON where it has both.
    static let questions: [[String]] = {
        var questions: [[String]] = []
        for url in [urls.a, urls.b, urls.d, urls.e, urls.f, urls.h] {
            questions.append(["why", url, "--json"])
            questions.append(["why", url, "--at", IncidentLog.instant(7)])
        }
        for minutes in [-45.0, 0, 6, 13, 22, 50] {
            questions.append(["backends", "--at", IncidentLog.instant(minutes), "--json"])
            questions.append(["backends", "--at", IncidentLog.instant(minutes)])
        }
        let window = ["--from", "2026-11-20T01:00:00Z", "--to", "2026-11-20T03:00:00Z"]
        questions += [["audit", "--json"] + window, ["audit"] + window]
        let since = ["--since", "2026-11-20T02:00:00Z", "--until", "2026-11-20T03:00:00Z"]
        questions += [["history", urls.a, "--json"] + since, ["history", urls.a] + since]
        questions += [["events", "--json", "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"]]
        return questions
    }()

    @Test func aSeededFileAnswersTheSameOnTheFleetDatabaseWithItsIds() throws {
        let folder = try TestFolder()
        let path = folder.path("single.sqlite3")
        try Self.seed(path)
        let url = try PostgresTestServer.shared.get().makeDatabase()
        let lbctl = folder.lbctl

        /// Each answer, with what is not the record's (the time it was asked, how long ago an
        /// instant was, the database's name) masked.
        func answers(_ database: String) throws -> [String] {
            let today = String(Timestamp.now().rfc3339.prefix(10))
            let askedAt = try Regex("\(today)[T ][0-9:.]+Z")
            let ago = try Regex("\\([0-9dhms ]+ ago\\)")
            return try Self.questions.map { question in
                let result = try lbctl.run(["--db", database] + question)
                #expect(result.status == 0, "\(question): \(result.standardError)")
                return result.standardOutput.replacing(askedAt, with: "NOW").replacing(ago, with: "(AGO)")
                    .replacing(try StoreLocation(parsing: database).description, with: "DATABASE")
            }
        }
        let before = try answers(path)
        let migrated = try lbctl.run(["migrate", "--from", path, "--to", url])
        #expect(migrated.status == 0, "\(migrated.standardError)")
        let file = try Store(path: path, mode: .readOnly)
        let eventCount = try file.events(EventQuery()).count
        #expect(migrated.standardOutput.contains("8 backends, \(eventCount) events"), "\(migrated.standardOutput)")
        let after = try answers(url)
        for (index, question) in Self.questions.enumerated() {
            let lines = (before[index].split(separator: "\n"), after[index].split(separator: "\n"))
            let first = zip(lines.0, lines.1).first { $0 != $1 }
            let difference = first.map { "\($0.0) became \($0.1)" } ?? "\(lines.0.count) lines became \(lines.1.count)"
            #expect(after[index] == before[index], "\(question) answers differently after the copy: \(difference)")
        }

        // The same rows under the same ids, and new ones continue after them.
        let fleet = try Store(location: StoreLocation(parsing: url), mode: .existing)
        #expect(try fleet.events(EventQuery()).map(\.id) == file.events(EventQuery()).map(\.id))
        #expect(try fleet.backends(includeRemoved: true).map(\.id) == file.backends(includeRemoved: true).map(\.id))
        #expect(try lbctl.run(["--db", url, "add", "http://127.0.0.1:9100"]).status == 0)
        let added = try #require(try fleet.backend(url: "http://127.0.0.1:9100"))
        #expect(added.id > (try file.backends(includeRemoved: true).map(\.id).max() ?? 0))
        let lastEvent = try #require(try fleet.events(EventQuery()).last)
        #expect(lastEvent.id > (try file.events(EventQuery()).last?.id ?? 0))

        // Once: a second copy into the same database is refused with one line, --replace redoes it.
        let again = try lbctl.run(["migrate", "--from", path, "--to", url])
        #expect(again.status == 65, "\(again.standardError)")
        #expect(again.errorLines.count == 1 && again.standardError.contains("--replace"), "\(again.standardError)")
        let replaced = try lbctl.run(["migrate", "--from", path, "--to", url, "--replace"])
        #expect(replaced.status == 0, "\(replaced.standardError)")
        #expect(try fleet.backend(url: "http://127.0.0.1:9100") == nil)
        #expect(try answers(url) == before)
    }

    @Test func aFileWhoseDaemonRunsOrANonPostgresTargetIsRefused() throws {
        let folder = try TestFolder()
        let path = folder.path("single.sqlite3")
        try Self.seed(path)
        let url = try PostgresTestServer.shared.get().makeDatabase()
        let notURL = try folder.lbctl.run(["migrate", "--from", path, "--to", folder.path("other.sqlite3")])
        #expect(notURL.status == 65 && notURL.standardError.contains("postgres://"), "\(notURL.standardError)")

        // A daemon that renewed its heartbeat just now runs on the file.
        let store = try Store(path: path, mode: .existing)
        try store.withConnection { connection in
            try Store.registerInstance(InstanceIdentity(name: "lb-single", host: "h", pid: 4242, listen: "127.0.0.1:80",
                                                        version: "test"), at: .now(), in: connection)
        }
        let running = try folder.lbctl.run(["migrate", "--from", path, "--to", url])
        #expect(running.status == 65, "\(running.standardError)")
        #expect(running.standardError.contains("lb-single") && running.standardError.contains("stop it first"),
                "\(running.standardError)")
        let fleet = try Store(location: StoreLocation(parsing: url), mode: .existing)
        #expect(try fleet.backends(includeRemoved: true).isEmpty, "nothing was copied")
    }
}
