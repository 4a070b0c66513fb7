import ArgumentParser
import LBStore

/// `lbctl backends [--at T]`: the registry with health, admin state and the last day's uptime and
/// failures; with `--at`, the registry as it stood at T, rebuilt from the event log.
struct BackendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backends",
        abstract: "List the backends: health and since when, admin state, weight, backup, uptime and failures over 24 h.",
        discussion: """
            With --at T, the registry as it stood at T, rebuilt from the event log: the backends \
            registered then, the health, admin state, weight and settings (backup, limits) of each at \
            that instant and since when, \
            with uptime and failures over the 24 hours before T. T must lie between the database's \
            first record and now. A disabled backend is not checked: its health shows as "not checked". \
            Without a running lbserver (no fresh heartbeat) a warning on standard error says since \
            when the health shown has not been kept current.

            \(TimeArgument.helpText)
            """)

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Include removed backends (their history is kept).") var all = false
    @Option(help: ArgumentHelp("The registry as it stood at this time (see below).", valueName: "time"))
    var at: String?
    @Flag var format: OutputFormat = .table

    func run() throws {
        let now = Timestamp.now()
        let instant = try at.map { text throws(CLIError) in try TimeArgument.instant(text, option: "--at", now: now) }
        let store = try database.openForReading()
        let summaries: [BackendSummary]
        if let instant {
            let firstRecord = try store.firstEventTime()
            try TimeArgument.checkRecorded(instant, option: "--at", now: now, firstRecord: firstRecord)
            summaries = try BackendSummary.load(from: store, includeRemoved: all, at: instant,
                                                firstRecord: firstRecord ?? instant)
        } else {
            summaries = try BackendSummary.load(from: store, includeRemoved: all, now: now)
        }
        let reference = instant ?? now
        // Only a running lbserver checks backends: without one, the health is as it was left.
        let freshness = instant == nil ? HealthFreshness(try store.instances(), now: now) : .live
        if !summaries.isEmpty, let warning = freshness.warning(now: now) { Terminal.writeError("lbctl: \(warning)") }
        switch format {
        case .table:
            if let instant { Terminal.write("registry at \(TimeText.rfc3339(instant)) (\(TimeText.ago(instant, now: now)))\n") }
            Terminal.write(BackendSummaryFormatter(colour: Terminal.wantsColour, now: reference).table(summaries))
        case .json:
            let stale = freshness.json(now: now)
            Terminal.write(JSONValue.lines(summaries.map { BackendSummaryFormatter.json($0, stale: stale) }))
        case .csv: Terminal.write(BackendSummaryFormatter.csv(summaries, past: instant != nil))
        }
    }
}
