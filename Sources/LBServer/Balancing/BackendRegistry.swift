import LBStore
import Synchronization

/// The daemon's in-memory copy of the registry: one `BackendRuntime` per live backend, and the
/// snapshot of enabled backends that the balancer reads.
///
/// Changed rarely (startup, a registry reload, an admin change, a reload that changes the
/// algorithm), from any thread, under a mutex. The hot path never comes here; it reads the
/// balancer's snapshot through the proxy context that holds the balancer.
final class BackendRegistry: Sendable {
    private struct State {
        var byID: [Int64: BackendRuntime] = [:]
        var order: [Int64] = []
        var nextSlot = 0
        var balancer: any Balancer
    }

    private let state: Mutex<State>

    init(balancer: any Balancer) {
        state = Mutex(State(balancer: balancer))
    }

    /// The balancer the registry's changes go to: the one requests are balanced by.
    var balancer: any Balancer { state.withLock { $0.balancer } }

    /// Makes `balancer` the one that gets the registry's changes, given the enabled backends at
    /// once (a reload that changed the algorithm or slow start). The old one gets no
    /// more changes; a request that still holds it finishes on it.
    func replaceBalancer(with balancer: any Balancer) {
        state.withLock { state in
            balancer.replace(with: Self.snapshot(state))
            state.balancer = balancer
        }
    }

    private static func snapshot(_ state: State) -> BackendSnapshot {
        BackendSnapshot(state.order.compactMap { state.byID[$0] }.filter { $0.adminState == .enabled })
    }

    /// What changed in the last `apply`.
    struct Changes: Sendable {
        var added: [BackendRuntime] = []
        var removed: [BackendRuntime] = []
        /// Backends whose admin state, weight or settings changed: (backend, description of the change).
        var updated: [(BackendRuntime, String)] = []
        var isEmpty: Bool { added.isEmpty && removed.isEmpty && updated.isEmpty }
    }

    /// Brings the runtime set in line with `records` (the registry's live backends) and swaps in
    /// a new snapshot. A new backend starts alive unless its recorded health is `down`.
    @discardableResult
    func apply(_ records: [Backend]) -> Changes {
        state.withLock { state -> Changes in
            var changes = Changes()
            var seen = Set<Int64>()
            for record in records {
                seen.insert(record.id)
                if let existing = state.byID[record.id] {
                    var notes: [String] = []
                    if existing.adminState != record.adminState {
                        notes.append("admin_state \(existing.adminState.rawValue)->\(record.adminState.rawValue)")
                        existing.adminState = record.adminState
                    }
                    if existing.weight != record.weight {
                        notes.append("weight \(existing.weight)->\(record.weight)")
                        existing.weight = record.weight
                    }
                    notes += existing.apply(record.settings)
                    if !notes.isEmpty { changes.updated.append((existing, notes.joined(separator: " "))) }
                    continue
                }
                guard let url = try? BackendURL(parsing: record.url) else { continue }
                let runtime = BackendRuntime(id: record.id, url: url, slot: state.nextSlot,
                                             health: record.health, weight: record.weight,
                                             adminState: record.adminState)
                runtime.apply(record.settings)
                state.nextSlot += 1
                state.byID[record.id] = runtime
                state.order.append(record.id)
                changes.added.append(runtime)
            }
            for id in state.order where !seen.contains(id) {
                if let gone = state.byID.removeValue(forKey: id) { changes.removed.append(gone) }
            }
            state.order.removeAll { !seen.contains($0) }
            // Under the lock, so that a balancer swapped in meanwhile cannot miss this snapshot.
            state.balancer.replace(with: Self.snapshot(state))
            return changes
        }
    }

    /// Every live backend (any admin state), in registry order.
    var all: [BackendRuntime] {
        state.withLock { state in state.order.compactMap { state.byID[$0] } }
    }
}
