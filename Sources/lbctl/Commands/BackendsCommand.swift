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
            first record and now; a warning on standard error says when no lbserver was running at T. \
            A disabled backend is not checked: its health shows as "not checked". \
            Without a running lbserver (no fresh heartbeat) a warning on standard error says since \
            when the health shown has not been kept current. UPTIME 24H is measured over what the \
            checks observed: a backend checked for less than the day says over how long ("100.00% over 1m 20s").

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)

            \(TimeArgument.helpText)
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @OptionGroup var table: TableWidthOptions
    @Flag(help: "Include removed backends (their history is kept).") var all = false
    @Option(help: ArgumentHelp("The registry as it stood at this time (see below).", valueName: "time"))
    var at: String?
    @Flag var format: OutputFormat = .table

    func run() throws {
        let now = Timestamp.now()
        let instant = try at.map { text throws(CLIError) in try TimeArgument.instant(text, option: "--at", now: now) }
        let store = try database.openForReading()
        let times = zone.display()
        let summaries: [BackendSummary]
        if let instant {
            let firstRecord = try store.firstEventTime()
            try TimeArgument.checkRecorded(instant, option: "--at", now: now, firstRecord: firstRecord, times: times)
            summaries = try BackendSummary.load(from: store, includeRemoved: all, at: instant,
                                                firstRecord: firstRecord ?? instant)
            // Health at T is what the checks of a daemon running then said; with none running, it
            // is what the last one left.
            if !summaries.isEmpty, try BalancerRuns.noneRan(at: instant, from: store, now: now) {
                Terminal.writeError("lbctl: warning: no lbserver was running at \(times.milliseconds(instant)): "
                                    + "the health shown is as the last one left it, not checked then")
            }
        } else {
            summaries = try BackendSummary.load(from: store, includeRemoved: all, now: now)
        }
        let reference = instant ?? now
        // Only a running lbserver checks backends: without one, the health is as it was left.
        let freshness = instant == nil ? HealthFreshness(try store.instances(), now: now) : .live
        if !summaries.isEmpty, let warning = freshness.warning(now: now) { Terminal.writeError("lbctl: \(warning)") }
        switch format {
        case .table:
            if let instant { Terminal.write("registry at \(times.milliseconds(instant)) (\(TimeText.ago(instant, now: now)))\n") }
            Terminal.write(BackendSummaryFormatter(colour: Terminal.wantsColour, now: reference, times: times,
                                                   width: table.width).table(summaries))
        case .json:
            let stale = freshness.json(now: now)
            Terminal.write(JSONValue.lines(summaries.map { BackendSummaryFormatter.json($0, stale: stale) }))
        case .csv: Terminal.write(BackendSummaryFormatter.csv(summaries, past: instant != nil))
        }
    }
}
