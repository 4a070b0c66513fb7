import ArgumentParser
import LBStore

/// `lbctl instances`: the daemons that use this database, each with its row (host, pid, listen
/// address, version, start, last heartbeat) and what that row says now: running, stopped, or lost
/// (its heartbeat went stale without a clean stop: killed, crashed, or its host is gone).
struct InstancesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instances",
        abstract: "List the lbservers that use this database and whether each is running.",
        discussion: """
            A running daemon renews its heartbeat every \(Instance.heartbeatInterval.components.seconds) s. \
            STATE is running while the heartbeat is at most \(Instance.staleAfter.components.seconds) s old, \
            stopped after a clean stop, and lost when the heartbeat went stale without one.

            \(TimeZoneOptions.helpText) \(TableWidthOptions.helpText)
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var zone: TimeZoneOptions
    @OptionGroup var table: TableWidthOptions
    @Flag var format: OutputFormat = .table

    func run() throws {
        let now = Timestamp.now()
        let store = try database.openForReading()
        let instances = try store.instances()
        switch format {
        case .table:
            let formatter = InstanceFormatter(colour: Terminal.wantsColour, now: now, times: zone.display(), width: table.width)
            Terminal.write(formatter.table(instances))
        case .json: Terminal.write(JSONValue.lines(instances.map { InstanceFormatter.json($0, now: now) }))
        case .csv: Terminal.write(InstanceFormatter.csv(instances, now: now))
        }
    }
}

/// Prints instances as a table, JSON or CSV. The JSON shape, one object per instance:
/// `{"instance","host","pid","listen","version","started","heartbeat","heartbeat_age_ms","stopped","state"}`.
struct InstanceFormatter {
    var colour: Bool
    var now: Timestamp
    /// How the table writes times.
    var times: TimeDisplay
    /// The width the table fits (a terminal's), nil for none.
    var width: Int? = nil

    /// On a narrow terminal STARTED drops its milliseconds, names are cut, and PID, VERSION, LISTEN
    /// then HOST are left out, as far as the width needs.
    static let columns: [TableFormatter.Column] = [
        .init("INSTANCE", shrink: .text(minimum: 10)), .init("STATE"), .init("HOST", shrink: .text(minimum: 10), hidePriority: 4),
        .init("PID", .right, hidePriority: 1), .init("LISTEN", hidePriority: 3), .init("VERSION", shrink: .text(minimum: 8), hidePriority: 2),
        .init("STARTED", shrink: .compact), .init("LAST HEARTBEAT"),
    ]

    func table(_ instances: [Instance]) -> String {
        guard !instances.isEmpty else { return "no lbserver has used this database since it gained instances (schema v8)\n" }
        return TableFormatter(columns: Self.columns, colour: colour, width: width).render(instances.map { instance in
            let state = instance.state(at: now)
            return [
                .init(instance.identity.name),
                .init(state.rawValue, style: state == .running ? .green : state == .lost ? .red : .dim),
                .init(instance.identity.host),
                .init(String(instance.identity.pid)),
                .init(instance.identity.listen),
                .init(instance.identity.version),
                .init(times.milliseconds(instance.startedAt), style: .dim, compact: times.seconds(instance.startedAt)),
                .init(TimeText.ago(instance.heartbeatAt, now: now)),
            ]
        })
    }

    static func json(_ instance: Instance, now: Timestamp) -> JSONValue {
        .object([
            ("instance", .string(instance.identity.name)),
            ("host", .string(instance.identity.host)),
            ("pid", .integer(Int64(instance.identity.pid))),
            ("listen", .string(instance.identity.listen)),
            ("version", .string(instance.identity.version)),
            ("started", .string(TimeText.rfc3339(instance.startedAt))),
            ("heartbeat", .string(TimeText.rfc3339(instance.heartbeatAt))),
            ("heartbeat_age_ms", .integer(max(0, now.milliseconds - instance.heartbeatAt.milliseconds))),
            ("stopped", .optional(instance.stoppedAt.map(TimeText.rfc3339))),
            ("state", .string(instance.state(at: now).rawValue)),
        ])
    }

    static func csv(_ instances: [Instance], now: Timestamp) -> String {
        CSV.line(["instance", "state", "host", "pid", "listen", "version", "started", "heartbeat", "stopped"])
            + instances.map { instance in
                CSV.line([instance.identity.name, instance.state(at: now).rawValue, instance.identity.host,
                          String(instance.identity.pid), instance.identity.listen, instance.identity.version,
                          TimeText.rfc3339(instance.startedAt), TimeText.rfc3339(instance.heartbeatAt),
                          instance.stoppedAt.map(TimeText.rfc3339)])
            }.joined()
    }
}
