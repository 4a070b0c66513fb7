import ArgumentParser
import LBStore

/// `lbctl backends`: the registry with health, admin state and the last day's uptime and failures.
struct BackendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backends",
        abstract: "List the backends: health and since when, admin state, weight, uptime and failures over 24 h.")

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Include removed backends (their history is kept).") var all = false
    @Flag var format: OutputFormat = .table

    func run() throws {
        let store = try database.openForReading()
        let now = Timestamp.now()
        let summaries = try BackendSummary.load(from: store, includeRemoved: all, now: now)
        switch format {
        case .table: Terminal.write(BackendSummaryFormatter(colour: Terminal.wantsColour, now: now).table(summaries))
        case .json: Terminal.write(JSONValue.lines(summaries.map(BackendSummaryFormatter.json)))
        case .csv: Terminal.write(BackendSummaryFormatter.csv(summaries))
        }
    }
}
