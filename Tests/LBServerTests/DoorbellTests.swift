import Testing
@testable import LBServer

/// `Doorbell`: a ring ends the wait it finds, or the next one; rings between waits count once; a
/// wait with no ring ends at its timeout; a cancelled waiter stops at once.
///
/// The waits that a ring or a cancellation must end have a 600 s timeout and must end well
/// before it: other suites' blocking tests can hold the cooperative threads for many seconds,
/// so "at once" is checked as "not by the timeout".
@Suite struct DoorbellTests {
    let clock = ContinuousClock()
    static let long: Duration = .seconds(600)

    @Test func aRingBeforeTheWaitEndsItAtOnceAndRingsBetweenWaitsCountOnce() async {
        let doorbell = Doorbell()
        doorbell.ring()
        doorbell.ring()
        let start = clock.now
        await doorbell.wait(upTo: Self.long)
        #expect(clock.now - start < Self.long / 2)
        // Both rings were taken by that wait: the next one waits for its timeout.
        let second = clock.now
        await doorbell.wait(upTo: .milliseconds(200))
        #expect(clock.now - second >= .milliseconds(200))
    }

    @Test func aRingDuringTheWaitEndsIt() async {
        let doorbell = Doorbell()
        let start = clock.now
        async let waited: Void = doorbell.wait(upTo: Self.long)
        try? await Task.sleep(for: .milliseconds(50))
        doorbell.ring()
        await waited
        #expect(clock.now - start < Self.long / 2)
    }

    @Test func aCancelledWaiterStopsAtOnce() async {
        let doorbell = Doorbell()
        let start = clock.now
        let waiter = Task { await doorbell.wait(upTo: Self.long) }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value
        #expect(clock.now - start < Self.long / 2)
    }
}
