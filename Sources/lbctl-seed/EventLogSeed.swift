import Foundation
import LBStore

/// The `events` profile: `eventCount` events spread evenly over `[start, end)` across
/// `backendCount` backends: mostly attempts, a few failures, retries and 503s, and a down period
/// per backend in which its traffic fails, with its status changes, a health check a minute and
/// an operator drain. What `scripts/bench-lbctl` times `lbctl events` on.
func seedEventLog(path: String, eventCount: Int, backendCount: Int, start: Timestamp, end: Timestamp,
                  instances: [String] = []) throws {
    let span = end.milliseconds - start.milliseconds
    let store = try Store(path: path)
    var backends: [Backend] = []
    for index in 0..<backendCount {
        let url = "http://10.0.0.\(index + 1):8080"
        backends.append(try store.backend(url: url)
            ?? store.addBackend(url: url, weight: 1 + index % 3, origin: .config, actor: "seed", at: start))
    }

    var writer = try SeedWriter(path: path, instances: instances, start: start)
    func record(_ event: Event) { writer.record(event) }

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
            writer.record(check)
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
    writer.finish()
}
