import Testing
@testable import LBServer

/// `Doorbell`: a ring ends the wait it finds, or the next one; rings between waits count once; a
/// wait with no ring ends at its timeout; a cancelled waiter stops at once.
@Suite struct DoorbellTests {
    let clock = ContinuousClock()

    @Test func aRingBeforeTheWaitEndsItAtOnceAndRingsBetweenWaitsCountOnce() async {
        let doorbell = Doorbell()
        doorbell.ring()
        doorbell.ring()
        let start = clock.now
        await doorbell.wait(upTo: .seconds(30))
        #expect(clock.now - start < .seconds(5))
        // Both rings were taken by that wait: the next one waits for its timeout.
        let second = clock.now
        await doorbell.wait(upTo: .milliseconds(200))
        #expect(clock.now - second >= .milliseconds(200))
    }

    @Test func aRingDuringTheWaitEndsIt() async {
        let doorbell = Doorbell()
        let start = clock.now
        async let waited: Void = doorbell.wait(upTo: .seconds(30))
        try? await Task.sleep(for: .milliseconds(50))
        doorbell.ring()
        await waited
        #expect(clock.now - start < .seconds(5))
    }

    @Test func aCancelledWaiterStopsAtOnce() async {
        let doorbell = Doorbell()
        let start = clock.now
        let waiter = Task { await doorbell.wait(upTo: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value
        #expect(clock.now - start < .seconds(5))
    }
}
