import ArgumentParser

/// `--utc`, shared by every command that prints times for a person: text shows local time (the
/// zone `TZ` names, else the system's) with its offset, or UTC with this flag. `--json` and `--csv`
/// are RFC 3339 UTC either way.
struct TimeZoneOptions: ParsableArguments {
    @Flag(help: "Show times in UTC instead of local time (TZ, else the system's zone). JSON and CSV are always UTC.")
    var utc = false

    init() {}

    /// How text shows times, for the help of the commands that print them.
    static let helpText = """
        Times show in local time with the zone's offset (2026-12-03 09:14:05+01:00), the zone TZ names, \
        else the system's; --utc (or TZ=UTC) shows UTC (2026-12-03 08:14:05Z). Either can be pasted back \
        as a time. --json and --csv always write RFC 3339 UTC.
        """

    /// How this command writes instants for a person.
    func display() -> TimeDisplay { TimeDisplay(utc: utc) }
}
