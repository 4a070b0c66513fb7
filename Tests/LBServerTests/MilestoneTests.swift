import Testing
@testable import LBServer

/// `Milestone`: reached once, awaited before or after, given up on by a cancelled waiter only.
@Suite struct MilestoneTests {
    @Test func waitersBeforeAndAfterTheMilestoneGetItsValue() async throws {
        let milestone = Milestone<Int>()
        async let early = milestone.value()
        #expect(await poll { true })
        milestone.reach(7)
        #expect(try await early == 7)
        #expect(try await milestone.value() == 7)
        #expect(await milestone.valueIgnoringCancellation() == 7)
    }

    @Test func aSecondReachIsIgnored() {
        let milestone = Milestone<String>()
        #expect(!milestone.isReached)
        milestone.reach("first")
        milestone.reach("second")
        #expect(milestone.current == "first")
    }

    @Test func aCancelledWaiterStopsWaitingAndOthersStillGetTheValue() async throws {
        let milestone = Milestone<Int>()
        let cancelled = Task { try await milestone.value() }
        let patient = Task { await milestone.valueIgnoringCancellation() }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        patient.cancel()
        milestone.reach(3)
        #expect(await patient.value == 3)
    }

    @Test func aWaiterAlreadyCancelledDoesNotWait() async {
        let milestone = Milestone<Int>()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await milestone.value()
        }
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
