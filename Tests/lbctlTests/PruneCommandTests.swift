import Foundation
import LBStore
import Testing

@Suite struct PruneCommandTests {
    /// Failures 40, 31, 29 and 1 days old, one an hour old, and a check run ended 2 days ago.
    static func seed(in folder: TestFolder) throws -> (path: String, store: Store) {
        let path = try MutationCommandTests.emptyDatabase(in: folder)
        let store = try Store(path: path)
        let now = Timestamp.now()
        for hours in [960, 744, 696, 24, 1] {
            try store.record(Event(at: now.adding(milliseconds: -Int64(hours) * 3_600_000), kind: .failure,
                                   detail: "\(hours) hours ago"))
        }
        return (path, store)
    }

    @Test func anAgeUnderADayIsRefusedWithAHintAndDeletesNothing() throws {
        let folder = try TestFolder()
        let (path, store) = try Self.seed(in: folder)
        for age in ["0s", "23h"] {
            let result = try folder.lbctl.run(["--db", path, "prune", "--older-than", age])
            #expect(result.status == 65)
            #expect(result.errorLines == ["lbctl: --older-than \(age) would delete records of the last day; "
                                          + "add --force to prune under 24h 00m (--dry-run shows what would go)"])
        }
        #expect(try store.events(EventQuery()).count == 5)
    }

    @Test func forceAllowsAnAgeUnderADayAndTheMarkerSaysWhatWent() throws {
        let folder = try TestFolder()
        let (path, store) = try Self.seed(in: folder)
        let before = Timestamp.now()
        let result = try folder.lbctl.run(["--db", path, "prune", "--older-than", "2h", "--force"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("pruned 4 events and 0 health runs older than "))
        let remaining = try store.events(EventQuery())
        #expect(remaining.map(\.kind) == [.failure, .prune])
        let marker = try #require(remaining.last)
        let data = try #require(marker.data)
        #expect(data.events == 4 && data.healthRuns == 0)
        #expect(data.actor == MutationCommandTests.expectedUser)
        #expect(data.command == "lbctl --db \(path) prune --older-than 2h --force")
        let cutoff = try #require(data.cutoff)
        #expect(abs(cutoff - (before.milliseconds - 7_200_000)) < 60_000)
        #expect(marker.detail == "older than \(Timestamp(milliseconds: cutoff).rfc3339): 4 events, 0 health runs "
                + "by=\(MutationCommandTests.expectedUser)")
    }

    @Test func aDryRunSaysWhatWouldGoAndDeletesNothing() throws {
        let folder = try TestFolder()
        let (path, store) = try Self.seed(in: folder)
        let result = try folder.lbctl.run(["--db", path, "prune", "--older-than", "30d", "--dry-run"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("would prune 2 events and 0 health runs older than "))
        #expect(result.standardOutput.hasSuffix(" (dry run: nothing deleted)\n"))
        // Under a day needs no --force to be only counted.
        let short = try folder.lbctl.run(["--db", path, "prune", "--older-than", "0s", "--dry-run"])
        #expect(short.standardOutput.hasPrefix("would prune 5 events and 0 health runs older than "))
        #expect(try store.events(EventQuery()).count == 5)
    }
}
