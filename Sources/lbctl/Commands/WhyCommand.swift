import ArgumentParser
import LBStore

/// `lbctl why URL [--at T]`: why a backend was down, drained or disabled, and what ended it.
struct WhyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "Explain a backend's down, drained or disabled period: its cause, evidence and end.",
        discussion: """
            The period in effect at --at T (a time between the database's first record and now); without --at, the one in effect now, else the one \
            that began last. Causes: check (the failing checks and the fall threshold), traffic (the \
            failed tries with their request ids), admin (who, when, which command), restore (the \
            state restored at startup and its age), outlier (the failed tries in a row that ejected \
            it, and until when). A backend never down, drained or disabled says so.

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)

            \(TimeArgument.helpText)
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @OptionGroup var table: TableWidthOptions
    @Argument(help: "The backend's URL (removed backends too).") var url: String
    @Option(help: ArgumentHelp("The period in effect at this time (see below).", valueName: "time")) var at: String?
    @Flag(help: "Print JSON (shape in the README) instead of text.") var json = false

    func run() throws {
        let now = Timestamp.now()
        let instant = try at.map { text throws(CLIError) in try TimeArgument.instant(text, option: "--at", now: now) }
        let store = try database.openForReading()
        let backend = try BackendArgument.resolve(url, in: store, includeRemoved: true)
        let firstRecord = try store.firstEventTime()
        if let instant { try TimeArgument.checkRecorded(instant, option: "--at", now: now, firstRecord: firstRecord,
                                                          times: zone.display()) }
        let report = try WhyReport.build(for: backend, at: instant, now: now, firstRecord: firstRecord, from: store)
        if json {
            Terminal.write(WhyFormatter.json(report).pretty + "\n")
        } else {
            Terminal.write(WhyFormatter(colour: Terminal.wantsColour, now: now, times: zone.display(), width: table.width)
                .text(report))
        }
    }
}
