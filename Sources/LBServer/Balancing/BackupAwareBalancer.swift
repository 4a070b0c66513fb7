import Atomics

/// Sends traffic to backup backends only when no primary can take it: wraps two balancers of the
/// same algorithm, one over the primaries and one over the backups, and asks the second only
/// when the first has no eligible backend (all down, disabled, or already tried for this
/// request). A request whose primaries fail over therefore moves on to a backup.
final class BackupAwareBalancer: Balancer {
    private let primaries: any Balancer
    private let backups: any Balancer
    private let whole = ManagedAtomic<BackendSnapshot>(.empty)

    init(primaries: any Balancer, backups: any Balancer) {
        self.primaries = primaries
        self.backups = backups
    }

    func replace(with snapshot: BackendSnapshot) {
        whole.store(snapshot, ordering: .releasing)
        primaries.replace(with: BackendSnapshot(snapshot.backends.filter { !$0.isBackup }))
        backups.replace(with: BackendSnapshot(snapshot.backends.filter(\.isBackup)))
    }

    var current: BackendSnapshot { whole.load(ordering: .acquiring) }

    var cursorToSave: Int? { primaries.cursorToSave }

    func nextBackend(for key: BalancingKey?, excluding excluded: [Int64]) -> BackendRuntime? {
        primaries.nextBackend(for: key, excluding: excluded) ?? backups.nextBackend(for: key, excluding: excluded)
    }
}
