import Foundation
import LBStore

/// The `history` profile: a long life of many backends as the daemon and operators record it, for
/// timing `lbctl backends --at` and `lbctl why` (scripts/bench-lbctl).
///
/// Every backend is checked every second for the whole span, stored as compact health runs, and
/// goes down a few times a day (`incidentsPerDay` ± 1): two in three times by failing checks (fall
/// 3, the three failing checks as evidence), one in three by traffic (four failed tries of one
/// request, written as failures and retries too), back up after 10 s to 15 min by passing checks
/// (rise 2). Operators drain each backend for half an hour once a week, change its weight once a
/// month, and every tenth backend is removed for a day and added back; the daemon restarts once a
/// month. Ordinary traffic (attempts, a few failures, retries and 503s) fills the log up to
/// `eventCount` events. The same arguments always give the same rows.
struct HistorySeed {
    var path: String
    var eventCount: Int
    var backendCount: Int
    var start: Timestamp
    var end: Timestamp
    var incidentsPerDay: Int
    /// A fleet's daemons, tagged on the events in turn (none: a single node's record).
    var instances: [String] = []

    static let second: Int64 = 1_000
    static let day: Int64 = 86_400_000
    static let checkErrors = ["connection refused", "timed out after 2s", "HTTP 503 from /healthz"]

    /// What was written.
    struct Summary {
        var events: Int
        var healthRuns: Int
        var downPeriods: Int
    }

    func run() throws -> Summary {
        let store = try Store(path: path)
        var backends: [Backend] = []
        for index in 0..<backendCount {
            let url = "http://10.0.\(index / 250).\(index % 250 + 1):8080"
            backends.append(try store.backend(url: url)
                ?? store.addBackend(url: url, weight: 1 + index % 3, origin: .config, actor: "lbserver",
                                    command: "startup: declared by the configuration", at: start))
        }
        var events: [Event] = []
        var runs: [HealthRun] = []
        var downPeriods = 0
        for (index, backend) in backends.enumerated() {
            var life = BackendLife(seed: self, backend: backend, index: index)
            life.live()
            events += life.events
            runs += life.runs
            downPeriods += life.downPeriods
        }
        events += restarts()
        events += traffic(count: max(0, eventCount - events.count - backendCount), backends: backends)
        // The daemon writes in time order; ids then follow time as they do in a real log.
        events.sort { $0.at < $1.at }
        try store.importHealthRuns(runs)

        var writer = try SeedWriter(path: path, instances: instances, start: start)
        for event in events { writer.record(event) }
        for backend in backends { writer.recordHealth(backendID: backend.id, health: .up, since: end) }
        writer.finish()
        return Summary(events: events.count + backendCount, healthRuns: runs.count, downPeriods: downPeriods)
    }

    /// A shutdown and a fresh start once a month.
    private func restarts() -> [Event] {
        var events: [Event] = []
        var at = start.adding(milliseconds: 15 * Self.day + 3 * 3_600_000)
        while at < end {
            events.append(Event(at: at, kind: .shutdown, detail: "lbserver stopped cleanly"))
            let started = at.adding(milliseconds: 4 * Self.second)
            events.append(Event(at: started, kind: .startup, detail: "lbserver started state=fresh state_age=4s",
                                data: EventData(stateAgeMs: 4_000, path: "fresh", differences: [])))
            at = at.adding(milliseconds: 30 * Self.day)
        }
        return events
    }

    /// `count` events of ordinary traffic spread evenly over the span.
    private func traffic(count: Int, backends: [Backend]) -> [Event] {
        var random = SeededRandom(state: 7)
        let span = end.milliseconds - start.milliseconds
        return (0..<count).map { index in
            let at = start.adding(milliseconds: span * Int64(index) / Int64(max(count, 1)))
            let backend = backends[random.below(backends.count)]
            let request = String(format: "req-%08x", index / 3)
            let roll = random.below(100)
            if roll < 3 {
                return Event(at: at, kind: roll == 0 ? .retry : .failure, backendID: backend.id, requestID: request,
                             attempt: 1 + roll % 3, detail: "connection reset before response head")
            }
            if roll < 4 { return Event(at: at, kind: .rejected, requestID: request, detail: "503 no backend available") }
            return Event(at: at, kind: .attempt, backendID: backend.id, requestID: request, attempt: 2,
                         detail: "failover from \(backends[(index + 1) % backends.count].url)")
        }
    }
}

/// One backend's year: its incidents, operator actions, and health runs.
private struct BackendLife {
    let seed: HistorySeed
    let backend: Backend
    let index: Int
    var random: SeededRandom
    var events: [Event] = []
    var runs: [HealthRun] = []
    var downPeriods = 0
    /// The first check of the passing run in progress.
    var passingSince: Timestamp
    var weight: Int

    init(seed: HistorySeed, backend: Backend, index: Int) {
        self.seed = seed
        self.backend = backend
        self.index = index
        random = SeededRandom(state: 1_000 + UInt64(index))
        passingSince = seed.start.adding(milliseconds: HistorySeed.second)
        weight = backend.weight
    }

    var url: String { backend.url }
    /// Every tenth backend is removed for a day.
    var isRemovedFor: ClosedRange<Int64>? { index % 10 == 7 ? 200...201 : nil }

    mutating func live() {
        status(at: passingSince, .unknown, .up, cause: .check, summary: "check passed 1 time(s), rise=1",
               threshold: 1, evidence: [check(at: passingSince, error: nil)])
        let days = (seed.end.milliseconds - seed.start.milliseconds) / HistorySeed.day
        for day in 0..<days {
            let dayStart = seed.start.adding(milliseconds: day * HistorySeed.day)
            if let removed = isRemovedFor, removed.contains(day) {
                if day == removed.lowerBound { leave(at: dayStart.adding(milliseconds: HistorySeed.day / 2)) }
                if day == removed.upperBound { comeBack(at: dayStart.adding(milliseconds: HistorySeed.day / 2)) }
                continue
            }
            let count = max(1, seed.incidentsPerDay - 1 + random.below(3))
            let slot = HistorySeed.day / Int64(count)
            for slotIndex in 0..<Int64(count) {
                let offset = random.within(60...(slot / 2 / HistorySeed.second)) * HistorySeed.second
                incident(at: dayStart.adding(milliseconds: slotIndex * slot + offset))
            }
            if day % 7 == Int64(index % 7) { drain(at: dayStart.adding(milliseconds: slot * 3 / 4)) }
            if day % 30 == Int64(index % 30) { reweigh(at: dayStart.adding(milliseconds: slot - 60_000)) }
        }
        run(passed: true, from: passingSince, to: seed.end)
    }

    /// Down at `start`, by checks or by traffic, and back up by checks 10 s to 15 min later.
    mutating func incident(at start: Timestamp) {
        downPeriods += 1
        let up = start.adding(milliseconds: random.within(10...900) * HistorySeed.second)
        let firstFailing: Timestamp
        if random.below(3) == 0 {
            // A request fails between two checks: four tries, then the balancer marks it down.
            let down = start.adding(milliseconds: 500)
            let request = "req-\(index)-\(start.milliseconds / 1_000)"
            var tries: [Evidence] = []
            for attempt in 0..<4 {
                let at = down.adding(milliseconds: Int64(attempt - 3) * 10)
                let error = attempt % 2 == 0 ? "connection refused" : "connection reset before response head"
                tries.append(Evidence(at: at, source: .request, requestID: request, attempt: 1, error: error))
                events.append(Event(at: at, kind: .failure, backendID: backend.id, requestID: request, attempt: 1,
                                    detail: error))
                if attempt < 3 {
                    events.append(Event(at: at.adding(milliseconds: 1), kind: .retry, backendID: backend.id,
                                        requestID: request, attempt: 1, detail: "retry \(attempt + 1) on the same backend"))
                }
            }
            status(at: down, .up, .down, cause: .traffic, summary: "traffic: 4 failed tries of request \(request)",
                   threshold: 4, evidence: tries, requestID: request)
            firstFailing = start.adding(milliseconds: HistorySeed.second)
        } else {
            let error = HistorySeed.checkErrors[random.below(HistorySeed.checkErrors.count)]
            let checks = (0..<3).map { check(at: start.adding(milliseconds: Int64($0 - 2) * HistorySeed.second), error: error) }
            status(at: start, .up, .down, cause: .check, summary: "check failed 3 time(s), fall=3: \(error)",
                   threshold: 3, evidence: checks)
            firstFailing = start.adding(milliseconds: -2 * HistorySeed.second)
        }
        run(passed: true, from: passingSince, to: firstFailing.adding(milliseconds: -HistorySeed.second))
        run(passed: false, from: firstFailing, to: up.adding(milliseconds: -2 * HistorySeed.second))
        let passes = [check(at: up.adding(milliseconds: -HistorySeed.second), error: nil), check(at: up, error: nil)]
        status(at: up, .down, .up, cause: .check, summary: "check passed 2 time(s), rise=2", threshold: 2,
               evidence: passes)
        passingSince = up.adding(milliseconds: -HistorySeed.second)
    }

    mutating func drain(at instant: Timestamp) {
        admin(at: instant, detail: "admin_state enabled->drained", command: "lbctl drain \(url)",
              data: EventData(action: "admin_state", from: "enabled", to: "drained"))
        admin(at: instant.adding(milliseconds: 30 * 60_000), detail: "admin_state drained->enabled",
              command: "lbctl enable \(url)", data: EventData(action: "admin_state", from: "drained", to: "enabled"))
    }

    mutating func reweigh(at instant: Timestamp) {
        let next = 1 + weight % 5
        admin(at: instant, detail: "weight \(weight)->\(next)", command: "lbctl weight \(url) \(next)",
              data: EventData(action: "weight", from: String(weight), to: String(next)))
        weight = next
    }

    mutating func leave(at instant: Timestamp) {
        run(passed: true, from: passingSince, to: instant.adding(milliseconds: -HistorySeed.second))
        admin(at: instant, detail: "remove", command: "lbctl remove \(url)", data: EventData(action: "remove"))
    }

    mutating func comeBack(at instant: Timestamp) {
        admin(at: instant, detail: "add weight=\(weight) origin=runtime", command: "lbctl add \(url) --weight \(weight)",
              data: EventData(action: "add", to: "enabled", origin: "runtime", weight: weight))
        passingSince = instant.adding(milliseconds: HistorySeed.second)
        status(at: passingSince, .unknown, .up, cause: .check, summary: "check passed 1 time(s), rise=1", threshold: 1,
               evidence: [check(at: passingSince, error: nil)])
    }

    // MARK: Records

    mutating func check(at instant: Timestamp, error: String?) -> Evidence {
        let latency = error == "timed out after 2s" ? 2_000 : Double(random.within(200...40_000)) / 1_000
        return Evidence(at: instant, source: .check, error: error, latencyMs: latency)
    }

    mutating func status(at instant: Timestamp, _ from: Health, _ to: Health, cause: EventCause, summary: String,
                         threshold: Int, evidence: [Evidence], requestID: String? = nil) {
        events.append(Event(at: instant, kind: .statusChange, backendID: backend.id, requestID: requestID,
                            detail: "\(from.rawValue)->\(to.rawValue) cause=\(summary)",
                            data: EventData(from: from.rawValue, to: to.rawValue, cause: cause, threshold: threshold,
                                            evidence: evidence)))
    }

    mutating func admin(at instant: Timestamp, detail: String, command: String, data: EventData) {
        var data = data
        data.actor = "oncall"
        data.command = command
        events.append(Event(at: instant, kind: .adminChange, backendID: backend.id, detail: "\(detail) by=oncall",
                            data: data))
    }

    /// One run of equal results, a check a second from `from` to `to`.
    mutating func run(passed: Bool, from: Timestamp, to: Timestamp) {
        guard to >= from else { return }
        let count = Int((to.milliseconds - from.milliseconds) / HistorySeed.second) + 1
        runs.append(HealthRun(id: 0, backendID: backend.id, passed: passed, firstAt: from, lastAt: to, count: count,
                              minLatencyMilliseconds: 0.2, maxLatencyMilliseconds: passed ? 40 : 2_000,
                              averageLatencyMilliseconds: passed ? 1.5 : 650,
                              lastError: passed ? nil : HistorySeed.checkErrors[index % HistorySeed.checkErrors.count]))
    }
}
