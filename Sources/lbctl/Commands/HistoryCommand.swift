import ArgumentParser
import LBStore

/// `lbctl history URL`: one backend's health runs over a window, and its uptime.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Print a backend's health-check history (runs of equal results) and its uptime.",
        discussion: """
            The window defaults to the last 24 hours.

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)

            \(TimeArgument.helpText)
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @OptionGroup var table: TableWidthOptions
    @Argument(help: "The backend's URL (a removed backend's history is kept).") var url: String
    @Option(name: TimeArgument.sinceNames, help: ArgumentHelp("From this time. Default: 24h ago.", valueName: "time"))
    var since: String?
    @Option(name: TimeArgument.untilNames, help: ArgumentHelp("Up to this time. Default: now.", valueName: "time"))
    var until: String?
    @Flag var format: OutputFormat = .table

    func run() throws {
        let now = Timestamp.now()
        let range = try TimeArgument.window(since: since, until: until, defaultStart: now.adding(milliseconds: -86_400_000),
                                            defaultEnd: now, now: now, times: zone.display())
        let store = try database.openForReading()
        let backend = try BackendArgument.resolve(url, in: store, includeRemoved: true)
        let history = try store.healthHistory(backendID: backend.id, in: range)
        switch format {
        case .table:
            let formatter = HealthHistoryFormatter(colour: Terminal.wantsColour, times: zone.display(), width: table.width)
            Terminal.write(formatter.table(history, url: backend.url))
        case .json: Terminal.write(HealthHistoryFormatter.json(history, url: backend.url).pretty + "\n")
        case .csv: Terminal.write(HealthHistoryFormatter.csv(history))
        }
    }
}
