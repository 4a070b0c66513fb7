import Atomics

/// A fixed block of `Int` counters, each an atomic, in one allocation: the storage of
/// `RequestStats` and `BackendStats` (an array of `Synchronization.Atomic` cannot exist, since an
/// `Atomic` cannot be copied). A value type over the pointer, so a count costs no extra
/// indirection; its owner calls `deallocate()` once, in its `deinit`.
struct CounterSlots: @unchecked Sendable {
    // @unchecked: the slots are only touched through atomics; the owner frees them once.
    private let base: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: count)
        base.initialize(repeating: UnsafeAtomic<Int>.Storage(0), count: count)
    }

    func deallocate() {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// Adds `amount` from any thread: a relaxed atomic read-modify-write.
    @inline(__always)
    func add(_ amount: Int, to slot: Int) {
        UnsafeAtomic<Int>(at: base + slot).wrappingIncrement(by: amount, ordering: .relaxed)
    }

    /// Adds `amount` where this thread is the slot's only writer: a relaxed load and store (two
    /// plain moves on x86, no read-modify-write).
    @inline(__always)
    func addAsOnlyWriter(_ amount: Int, to slot: Int) {
        let counter = UnsafeAtomic<Int>(at: base + slot)
        counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// The slot's value; safe from any thread.
    func value(_ slot: Int) -> Int {
        UnsafeAtomic<Int>(at: base + slot).load(ordering: .relaxed)
    }
}
