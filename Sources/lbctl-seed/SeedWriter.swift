import LBStore

/// Hands records to an `EventWriter` without ever filling its queue: a record the queue refused
/// would be counted and written as a `dropped` event, which a seeded log must not hold.
struct SeedWriter {
    let writer: EventWriter
    private var queued = 0

    init(path: String, capacity: Int = 200_000) throws {
        writer = try EventWriter(path: path, configuration: .init(capacity: capacity))
    }

    mutating func record(_ event: Event) {
        makeRoom()
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
