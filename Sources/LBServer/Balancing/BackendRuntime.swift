import Atomics
import LBStore
import NIOCore

/// A backend as the running daemon sees it: its address and the state that changes at run time.
///
/// One instance lives as long as the backend stays in the registry, across snapshot rebuilds, so
/// its `isAlive` flag and counters carry over. Safe to share: mutable state is atomic.
final class BackendRuntime: Sendable {
    let id: Int64
    let url: BackendURL
    /// A small dense number, stable for this instance, that indexes per-event-loop tables
    /// (connection pools) without a dictionary look-up.
    let slot: Int
    private let health: ManagedAtomic<Int>
    private let storedWeight: ManagedAtomic<Int>
    private let storedAdminState: ManagedAtomic<Int>
    /// Requests being proxied to this backend right now.
    let inFlight = ManagedAtomic<Int>(0)

    /// The address to dial when the host is an IP literal, resolved once; nil for host names.
    let socketAddress: SocketAddress?

    init(id: Int64, url: BackendURL, slot: Int, health: Health, weight: Int, adminState: AdminState) {
        self.id = id
        self.url = url
        self.slot = slot
        self.socketAddress = try? SocketAddress(ipAddress: url.host, port: url.port)
        self.health = ManagedAtomic(Health.allCases.firstIndex(of: health) ?? 2)
        self.storedWeight = ManagedAtomic(weight)
        self.storedAdminState = ManagedAtomic(AdminState.allCases.firstIndex(of: adminState) ?? 0)
    }

    /// Whether traffic may go here as far as health is concerned (the seed's `Alive`): a backend
    /// of unknown health is tried, as the seed treats every backend as alive until it fails.
    var isAlive: Bool { currentHealth != .down }

    var currentHealth: Health { Health.allCases[health.load(ordering: .relaxed)] }

    /// Moves to `newHealth`; returns the previous health if it changed, nil if it already was so.
    /// Exactly one of several racing callers sees the change, so it is reported once.
    func transition(to newHealth: Health) -> Health? {
        let desired = Health.allCases.firstIndex(of: newHealth) ?? 2
        var expected = health.load(ordering: .relaxed)
        while expected != desired {
            let (exchanged, original) = health.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
            if exchanged { return Health.allCases[expected] }
            expected = original
        }
        return nil
    }

    var weight: Int {
        get { storedWeight.load(ordering: .relaxed) }
        set { storedWeight.store(newValue, ordering: .relaxed) }
    }

    var adminState: AdminState {
        get { AdminState.allCases[storedAdminState.load(ordering: .relaxed)] }
        set { storedAdminState.store(AdminState.allCases.firstIndex(of: newValue) ?? 0, ordering: .relaxed) }
    }
}
