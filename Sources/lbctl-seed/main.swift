// lbctl-seed: fills a database with a realistic, reproducible record for scripts/bench-lbctl.
//
//     lbctl-seed --db PATH [--profile events] [--events 1000000] [--backends 6] [--span 7d] [--end 2026-11-26T12:00:00Z]
//     lbctl-seed --db PATH --profile history [--events 1000000] [--backends 100] [--span 365d] [--incidents-per-day 3]
//
// `--instances N` writes a fleet's record: N daemons (lb-1 …) started at the beginning, and every
// event tagged with one of them in turn.
//
// `events` (the default) spreads the events over the span for timing `lbctl events`
// (`seedEventLog`); `history` writes a year of 1-second checks, incidents with their causes and
// evidence, and operator actions for timing `lbctl backends --at` and `lbctl why` (`HistorySeed`).
// The same arguments always give the same rows.
//
//     lbctl-seed --profile outbox --db OUTBOX --to postgres://… --run NAME [--rate 1000] [--seconds 60]
//                [--drain 300] --acked FILE
//
// `outbox` is not a seed: it drives a fleet daemon's recording half (the writer into a local
// outbox, the forwarder on to PostgreSQL) at a steady rate for scripts/soak-outage (`OutboxSoak`).
import Foundation
import LBStore

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("lbctl-seed: \(message)\n".utf8))
    exit(64)
}

let usage = "usage: lbctl-seed --db PATH [--profile events|history] [--events N] [--backends N] [--span 7d] "
    + "[--end RFC3339] [--incidents-per-day N] [--instances N]"
var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let name = arguments.next() {
    guard name.hasPrefix("--"), let value = arguments.next() else { fail(usage) }
    options[String(name.dropFirst(2))] = value
}
guard let path = options["db"] else { fail("--db PATH is required") }
let profile = options["profile"] ?? "events"
if profile == "outbox" {
    guard let to = options["to"], case .postgres(let target)? = try? StoreLocation(parsing: to) else {
        fail("--to postgres://… is required")
    }
    guard let run = options["run"], let acked = options["acked"] else { fail("--run NAME and --acked FILE are required") }
    let soak = OutboxSoak(outbox: path, target: target, run: run, rate: max(1, Int(options["rate"] ?? "1000") ?? 1_000),
                          seconds: Int(options["seconds"] ?? "60") ?? 60, drainSeconds: Int(options["drain"] ?? "300") ?? 300,
                          acked: acked)
    try soak.start()
    exit(0)
}
guard profile == "events" || profile == "history" else { fail("--profile is events, history or outbox, not \(profile)") }
let history = profile == "history"
let eventCount = Int(options["events"] ?? "1000000") ?? 1_000_000
let backendCount = max(1, Int(options["backends"] ?? (history ? "100" : "6")) ?? 6)
guard let span = TimeParsing.milliseconds(fromDuration: options["span"] ?? (history ? "365d" : "7d")), span > 0
else { fail("bad --span") }
guard let end = TimeParsing.timestamp(fromRFC3339: options["end"] ?? "2026-11-26T12:00:00Z") else { fail("bad --end") }
let start = end.adding(milliseconds: -span)
let instances = (0..<max(0, Int(options["instances"] ?? "0") ?? 0)).map { "lb-\($0 + 1)" }

let began = ContinuousClock.now
if history {
    let seed = HistorySeed(path: path, eventCount: eventCount, backendCount: backendCount, start: start, end: end,
                           incidentsPerDay: max(1, Int(options["incidents-per-day"] ?? "3") ?? 3), instances: instances)
    let summary = try seed.run()
    print("seeded \(path): \(summary.events) events, \(summary.healthRuns) health runs, \(summary.downPeriods) down "
        + "periods over \(start.rfc3339) to \(end.rfc3339), \(backendCount) backends, in \(ContinuousClock.now - began)")
} else {
    try seedEventLog(path: path, eventCount: eventCount, backendCount: backendCount, start: start, end: end,
                     instances: instances)
    print("seeded \(path): \(eventCount) events over \(start.rfc3339) to \(end.rfc3339), \(backendCount) backends, "
        + "in \(ContinuousClock.now - began)")
}
