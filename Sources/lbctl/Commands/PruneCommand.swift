import ArgumentParser
import LBStore

/// `lbctl prune --older-than 30d`: deletes old events and health runs in small batches.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete events and health history older than a given age, in small batches.")

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("older-than"), help: "The age, for example 30d, 12h, 2w.") var olderThan: String

    func run() throws {
        let age = try TimeArgument.duration(olderThan, option: "--older-than")
        let store = try database.openForWriting()
        let cutoff = Timestamp.now().adding(milliseconds: -age)
        let result = try store.prune(olderThan: cutoff)
        Terminal.write("pruned \(result.events) events and \(result.healthRuns) health runs older than \(TimeText.rfc3339(cutoff))\n")
    }
}
