import LBStore

/// Hands records to an `EventWriter` without ever filling its queue: a record the queue refused
/// would be counted and written as a `dropped` event, which a seeded log must not hold.
struct SeedWriter {
    let writer: EventWriter
    private var queued = 0
    /// A fleet's daemons: each event is tagged with the next in turn.
    private let instances: [String]
    private var turn = 0

    /// With `instances`, a fleet's record: each daemon's `startup` at `start`, and every event
    /// tagged with one of them in turn.
    init(path: String, capacity: Int = 200_000, instances: [String] = [], start: Timestamp? = nil) throws {
        writer = try EventWriter(path: path, configuration: .init(capacity: capacity))
        self.instances = instances
        if let start {
            for instance in instances {
                writer.record(Event(at: start, kind: .startup, detail: "lbserver started", instance: instance))
            }
        }
    }

    mutating func record(_ event: Event) {
        makeRoom()
        var event = event
        if !instances.isEmpty, event.instance == nil, event.kind == .startup || event.kind == .shutdown {
            // A restart of the fleet: each daemon stops, or starts.
            for instance in instances.dropLast() {
                event.instance = instance
                writer.record(event)
            }
            event.instance = instances.last
        } else if !instances.isEmpty, event.instance == nil {
            event.instance = instances[turn % instances.count]
            turn += 1
        }
        writer.record(event)
    }

    mutating func record(_ check: CheckResult) {
        makeRoom()
        writer.record(check)
    }

    mutating func recordHealth(backendID: Int64, health: Health, since: Timestamp) {
        makeRoom()
        writer.recordHealth(backendID: backendID, health: health, since: since)
    }

    /// Waits for everything queued to be committed, then stops the writer.
    func finish() {
        guard writer.flush(timeout: .seconds(900)) else { fail("the writer did not finish: \(writer.currentStatistics)") }
        writer.close()
    }

    /// Every half queue, waits until what is queued is committed.
    private mutating func makeRoom() {
        queued += 1
        if queued % (writer.configuration.capacity / 2) == 0 { _ = writer.flush(timeout: .seconds(900)) }
    }
}
