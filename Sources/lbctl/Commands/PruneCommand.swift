import ArgumentParser
import LBStore

/// `lbctl prune --older-than 30d`: deletes old events and health runs in small batches, and leaves
/// a `prune` event that says what went. A window under a day is refused without `--force`, and
/// `--dry-run` only counts.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete events and health history older than a given age, in small batches.",
        discussion: """
            Records a prune event (the cutoff and what was deleted) that the audit reads to say what \
            is gone. An age under \(TimeText.duration(milliseconds: minimumAge)) is refused unless --force. \
            --dry-run prints what would be deleted and deletes nothing.
            """)

    /// The shortest age pruned without `--force`: less would take the current incident's record.
    static let minimumAge: Int64 = 86_400_000

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @Option(name: .customLong("older-than"), help: ArgumentHelp("The age, for example 30d, 12h, 2w.", valueName: "duration"))
    var olderThan: String
    @Flag(help: "Print what would be deleted (counts and cutoff) and delete nothing.") var dryRun = false
    @Flag(help: "Allow an age under 1 day.") var force = false

    func run() throws {
        let age = try TimeArgument.duration(olderThan, option: "--older-than")
        if age < Self.minimumAge && !force && !dryRun {
            throw CLIError.malformed("""
                --older-than \(olderThan) would delete records of the last day; \
                add --force to prune under \(TimeText.duration(milliseconds: Self.minimumAge)) \
                (--dry-run shows what would go)
                """)
        }
        let cutoff = Timestamp.now().adding(milliseconds: -age)
        if dryRun {
            let counted = try database.openForReading().pruneCount(olderThan: cutoff)
            Terminal.write("would prune \(counted.events) events and \(counted.healthRuns) health runs older than "
                           + "\(zone.display().milliseconds(cutoff)) (dry run: nothing deleted)\n")
            return
        }
        let store = try database.openForWriting()
        let result = try store.prune(olderThan: cutoff, actor: OperatorIdentity.current(),
                                     command: OperatorIdentity.commandLine())
        Terminal.write("pruned \(result.events) events and \(result.healthRuns) health runs older than \(zone.display().milliseconds(cutoff))\n")
    }
}
