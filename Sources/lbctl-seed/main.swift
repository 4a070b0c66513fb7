// lbctl-seed: fills a database with a realistic, reproducible event log for scripts/bench-lbctl.
//
//     lbctl-seed --db PATH [--events 1000000] [--backends 6] [--span 7d] [--end 2026-11-26T12:00:00Z]
//
// Events are spread evenly over the span that ends at --end: mostly attempts, a few failures,
// retries and 503s, and a down period per backend in which its traffic fails, with its status
// changes, health history and an operator drain. The same arguments always give the same rows.
import Foundation
import LBStore

/// A small deterministic generator (SplitMix64), so two runs seed the same database.
struct SeededRandom {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("lbctl-seed: \(message)\n".utf8))
    exit(64)
}

var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let name = arguments.next() {
    guard name.hasPrefix("--"), let value = arguments.next() else {
        fail("usage: lbctl-seed --db PATH [--events N] [--backends N] [--span 7d] [--end RFC3339]")
    }
    options[String(name.dropFirst(2))] = value
}
guard let path = options["db"] else { fail("--db PATH is required") }
let eventCount = Int(options["events"] ?? "1000000") ?? 1_000_000
let backendCount = max(1, Int(options["backends"] ?? "6") ?? 6)
guard let span = TimeParsing.milliseconds(fromDuration: options["span"] ?? "7d"), span > 0 else { fail("bad --span") }
guard let end = TimeParsing.timestamp(fromRFC3339: options["end"] ?? "2026-11-26T12:00:00Z") else { fail("bad --end") }
let start = end.adding(milliseconds: -span)

let began = ContinuousClock.now
let store = try Store(path: path)
var backends: [Backend] = []
for index in 0..<backendCount {
    let url = "http://10.0.0.\(index + 1):8080"
    backends.append(try store.backend(url: url)
        ?? store.addBackend(url: url, weight: 1 + index % 3, origin: .config, actor: "seed", at: start))
}

let writer = try EventWriter(path: path, configuration: .init(capacity: 200_000))
func record(_ event: Event) {
    while !writer.record(event) { _ = writer.flush() }
}

// One down period per backend, staggered over the span: 2% of the span each. Traffic fails on a
// backend while it is down (until the balancer marks it down, then requests fail over), and the
// balancer answers some 503s when the failover runs out.
let downLength = span / 50
var random = SeededRandom(state: 42)
var downPeriods: [Int64: TimeRange] = [:]
for (index, backend) in backends.enumerated() {
    let downStart = start.adding(milliseconds: span * Int64(index + 1) / Int64(backendCount + 1))
    let downEnd = downStart.adding(milliseconds: downLength)
    downPeriods[backend.id] = TimeRange(start: downStart.adding(milliseconds: -downLength / 10), end: downEnd)
    record(Event(at: start, kind: .statusChange, backendID: backend.id, detail: "unknown->up cause=health"))
    record(Event(at: downStart, kind: .statusChange, backendID: backend.id, detail: "up->down cause=traffic"))
    record(Event(at: downStart.adding(milliseconds: downLength / 3), kind: .adminChange, backendID: backend.id,
                 detail: "admin_state enabled->drained by=oncall"))
    record(Event(at: downEnd, kind: .statusChange, backendID: backend.id, detail: "down->up cause=health"))
    record(Event(at: downEnd.adding(milliseconds: downLength / 3), kind: .adminChange, backendID: backend.id,
                 detail: "admin_state drained->enabled by=oncall"))
    writer.recordHealth(backendID: backend.id, health: .up, since: downEnd)
    // A health check a minute, merged into runs.
    var at = start
    while at < end {
        let passed = !(at >= downStart && at < downEnd)
        let check = CheckResult(backendID: backend.id, at: at, passed: passed,
                                latencyMilliseconds: Double(random.below(400)) / 10 + 0.5,
                                error: passed ? nil : "connection refused")
        while !writer.record(check) { _ = writer.flush() }
        at = at.adding(milliseconds: 60_000)
    }
}

for index in 0..<eventCount {
    let at = start.adding(milliseconds: span * Int64(index) / Int64(eventCount))
    let backend = backends[random.below(backends.count)]
    let request = String(format: "req-%08x", index / 3)
    let roll = random.below(100)
    let troubled = downPeriods[backend.id].map { at >= $0.start && at < $0.end } ?? false
    let event: Event
    if troubled && roll < 96 || !troubled && roll < 3 {
        event = Event(at: at, kind: roll % 3 == 0 ? .retry : .failure, backendID: backend.id, requestID: request,
                      attempt: 1 + roll % 3,
                      detail: roll % 2 == 0 ? "connection refused" : "connection reset before response head")
    } else if troubled || roll < 4 {
        event = Event(at: at, kind: .rejected, requestID: request, detail: "503 no backend available")
    } else {
        event = Event(at: at, kind: .attempt, backendID: backend.id, requestID: request, attempt: 1 + roll % 3,
                      detail: "failover from \(backends[(index + 1) % backends.count].url)")
    }
    record(event)
}
guard writer.flush(timeout: .seconds(600)) else { fail("the writer did not finish: \(writer.currentStatistics)") }
writer.close()
let elapsed = ContinuousClock.now - began
print("seeded \(path): \(eventCount) events over \(start.rfc3339) to \(end.rfc3339), \(backendCount) backends, in \(elapsed)")
