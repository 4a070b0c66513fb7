import ArgumentParser
import Foundation
import LBStore

/// `lbctl events`: the event log, filtered, newest last; `--follow` keeps printing like `tail -f`.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the event log, newest last.",
        discussion: """
            With no --since, --until or --limit, the newest \(EventsCommand.defaultLimit) events are printed. \
            An event kind is one of: \(EventKind.allCases.map(\.rawValue).joined(separator: ", ")). \
            With --follow and --json, each event is one JSON object on its own line.

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)

            \(TimeArgument.helpText)
            """)

    static let defaultLimit = 100
    /// How often --follow looks for new events.
    static let pollInterval = 0.2
    /// Events fetched per query while following, so a burst never builds one giant array.
    static let followBatch = 10_000

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @OptionGroup var table: TableWidthOptions
    @Option(name: TimeArgument.sinceNames, help: ArgumentHelp("From this time.", valueName: "time")) var since: String?
    @Option(name: TimeArgument.untilNames, help: ArgumentHelp("Up to this time.", valueName: "time")) var until: String?
    @Option(help: ArgumentHelp("Only events of this backend (removed ones too).", valueName: "url")) var backend: String?
    @Option(name: .long, help: ArgumentHelp("Only events of this kind; repeat or separate with commas.", valueName: "event-kind"))
    var kind: [String] = []
    @Option(help: ArgumentHelp("Only events this daemon recorded (its --instance name).", valueName: "name"))
    var instance: String?
    @Option(help: ArgumentHelp("At most this many events: the newest of the window.", valueName: "n")) var limit: Int?
    @Flag(help: "Keep printing new events as they are written, until interrupted.") var follow = false
    @Flag var format: OutputFormat = .table

    /// The kinds asked for, from repeated and comma-separated `--kind` values.
    var kinds: [EventKind] {
        get throws {
            var kinds: [EventKind] = []
            for name in kind.flatMap({ $0.split(separator: ",") }).map({ $0.trimmingSpaces }) where !name.isEmpty {
                guard let parsed = EventKind(rawValue: name) else {
                    throw ValidationError("unknown event kind '\(name)'; use one of: "
                        + EventKind.allCases.map(\.rawValue).joined(separator: ", "))
                }
                if !kinds.contains(parsed) { kinds.append(parsed) }
            }
            return kinds
        }
    }

    func validate() throws {
        _ = try kinds
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, not \(limit)") }
        if follow && until != nil { throw ValidationError("--follow cannot be combined with --until") }
    }

    func run() throws {
        let now = Timestamp.now()
        let range = try TimeArgument.window(since: since, until: until, defaultStart: TimeRange.all.start,
                                            defaultEnd: TimeRange.all.end, now: now, times: zone.display())
        let store = try database.openForReading()
        let backendID = try backend.map { try BackendArgument.resolve($0, in: store, includeRemoved: true).id }
        let limit = self.limit ?? (since == nil && until == nil ? Self.defaultLimit : nil)
        var query = EventQuery(range: range, backendID: backendID, kinds: try kinds, limit: limit, instance: instance)
        // Both read before the window, so an event committed meanwhile is printed once, by one of
        // the two: the tail says where following starts, and the version moves for any commit
        // after it (read after the window, a commit in between would go unnoticed until the next).
        var version = follow ? try store.dataVersion() : 0
        let tail = follow ? try store.lastEventID() : 0
        let events = try store.events(query)
        var printer = EventPrinter(format: format, following: follow, colour: Terminal.wantsColour, times: zone.display(),
                                   width: table.width)
        printer.printFirst(events)
        guard follow else { return }

        query.limit = nil
        var lastID = max(tail, events.map(\.id).max() ?? 0)
        while true {
            Thread.sleep(forTimeInterval: Self.pollInterval)
            let current = try store.dataVersion()
            guard current != version else { continue }
            version = current
            while true {
                let batch = try store.events(after: lastID, matching: query, limit: Self.followBatch)
                guard let last = batch.last else { break }
                lastID = last.id
                printer.printMore(batch)
                if batch.count < Self.followBatch { break }
            }
        }
    }
}
