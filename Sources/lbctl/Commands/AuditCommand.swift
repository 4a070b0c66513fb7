import ArgumentParser
import Foundation
import LBStore

/// `lbctl audit --from T --to T [--html FILE]`: the post-incident report for a window.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Write the post-incident report for a window.",
        discussion: """
            A timeline of status changes and operator actions, each backend's downtime, counts of \
            failures, retries and 503s, the first and last failure, and the request ids affected. \
            Outages (no backend could take traffic) are named; spans with no lbserver running are \
            "no balancer", neither up nor down; a window that starts before the oldest record, or \
            reaches before a prune's cutoff, says so. \
            --html FILE writes one self-contained page with an SVG timeline (no scripts, no network).

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)

            \(TimeArgument.helpText)
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @OptionGroup var table: TableWidthOptions
    // Optional to ArgumentParser only so that either name may give it; `validate` requires it.
    @Option(name: TimeArgument.sinceNames, help: ArgumentHelp("Start of the window (required).", valueName: "time"))
    var since: String?
    @Option(name: TimeArgument.untilNames, help: ArgumentHelp("End of the window. Default: now.", valueName: "time"))
    var until: String?
    @Option(help: ArgumentHelp("Also write the report as a self-contained HTML page to this file.", valueName: "file"))
    var html: String?
    @Flag(help: "Print JSON (shape in the README) instead of text.") var json = false

    func validate() throws {
        guard since != nil else { throw ValidationError("Missing expected argument '--since <time>' (or --from)") }
    }

    func run() throws {
        let now = Timestamp.now()
        let times = zone.display()
        let range = try TimeArgument.window(since: since, until: until, defaultStart: now, defaultEnd: now, now: now,
                                            times: times)
        guard range.durationMilliseconds > 0 else {
            throw CLIError.malformed("the window \(times.milliseconds(range.start)) to \(times.milliseconds(range.end)) is empty")
        }
        let store = try database.openForReading()
        let report = try AuditReport.build(from: store, range: range, now: now)
        if let html {
            do {
                try AuditHTML(report: report, times: times).render().write(toFile: html, atomically: true, encoding: .utf8)
            } catch {
                throw CLIError(.ioError, "cannot write the HTML report to \(html): \(error.localizedDescription)")
            }
        }
        if json {
            Terminal.write(report.json.pretty + "\n")
        } else {
            Terminal.write(AuditText(colour: Terminal.wantsColour, times: times, width: table.width).render(report))
            if let html { Terminal.write("\nHTML report written to \(html)\n") }
        }
    }
}
