import Synchronization
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
    private let health: Atomic<Int>
    private let storedWeight: Atomic<Int>
    private let storedAdminState: Atomic<Int>
    private let storedBackup = Atomic<Bool>(false)
    /// Per-backend limits from the registry; 0 means the global setting (or no limit).
    private let storedMaxConnections = Atomic<Int>(0)
    private let storedConnectTimeout = Atomic<Int64>(0)
    private let storedResponseTimeout = Atomic<Int64>(0)
    private let storedTLSVerify = Atomic<Bool>(true)
    /// Requests being proxied to this backend right now.
    let inFlight = Atomic<Int>(0)
    /// The last health-check results, for the status page.
    let recentChecks = RecentChecks()
    /// What the proxy counted of it (tries, answers, failures, latency), for `/metrics`.
    let stats = BackendStats()
    /// `stats` sampled each second, for the status page's last minute.
    let loadHistory = LoadHistory()
    /// Its last status change as this daemon recorded it (`EventSink.statusChange`): since when
    /// and why it has its health. Rare, so a mutex.
    private let lastChange = Mutex<StatusChange?>(nil)
    /// When it last came back into service (down->up), in `NIODeadline` uptime nanoseconds, for
    /// slow start; 0 when it never did or its ramp is over.
    private let cameBackAt = Atomic<UInt64>(0)
    /// Until when outlier detection keeps it out (`NIODeadline` uptime nanoseconds); 0 when it
    /// is not ejected. Checks do not bring it up before then.
    private let ejectedUntilStorage = Atomic<UInt64>(0)
    /// Its failed tries in a row so far (outlier detection); read on every answer, written only
    /// when it changes, so a backend that keeps answering costs a read of a shared line.
    let failuresInARow = Atomic<Int>(0)

    /// The address to dial when the host is an IP literal, resolved once; nil for host names.
    let socketAddress: SocketAddress?

    init(id: Int64, url: BackendURL, slot: Int, health: Health, weight: Int, adminState: AdminState) {
        self.id = id
        self.url = url
        self.slot = slot
        self.socketAddress = try? SocketAddress(ipAddress: url.host, port: url.port)
        self.health = Atomic(Health.allCases.firstIndex(of: health) ?? 2)
        self.storedWeight = Atomic(weight)
        self.storedAdminState = Atomic(AdminState.allCases.firstIndex(of: adminState) ?? 0)
    }

    /// Whether traffic may go here as far as health is concerned (the seed's `Alive`): a backend
    /// of unknown health is tried, as the seed treats every backend as alive until it fails.
    var isAlive: Bool { currentHealth != .down }

    /// Whether a new try may go here: not down, enabled, and not already given up on for this
    /// request. Reads atomics only, so a health flip counts without a new snapshot.
    func isEligible(excluding excluded: [Int64]) -> Bool {
        isAlive && adminState == .enabled && hasRoom && !excluded.contains(id)
    }

    /// False while as many requests are in flight as its `max_connections` allows. A soft limit:
    /// requests picked at the same instant on several event loops may pass it by a few.
    var hasRoom: Bool {
        let maximum = storedMaxConnections.load(ordering: .relaxed)
        return maximum == 0 || inFlight.load(ordering: .relaxed) < maximum
    }

    /// Its own connect timeout, or nil for the global one.
    var connectTimeout: TimeAmount? {
        let nanoseconds = storedConnectTimeout.load(ordering: .relaxed)
        return nanoseconds == 0 ? nil : .nanoseconds(nanoseconds)
    }

    /// Its own response (idle) timeout, or nil for the global one.
    var responseTimeout: TimeAmount? {
        let nanoseconds = storedResponseTimeout.load(ordering: .relaxed)
        return nanoseconds == 0 ? nil : .nanoseconds(nanoseconds)
    }

    /// For an `https://` backend: whether its certificate is verified (the registry may turn it
    /// off for this backend).
    var verifiesTLS: Bool { storedTLSVerify.load(ordering: .relaxed) }

    var maxConnections: Int? {
        let maximum = storedMaxConnections.load(ordering: .relaxed)
        return maximum == 0 ? nil : maximum
    }

    /// Takes the registry's settings for it; returns what changed, for the log.
    @discardableResult
    func apply(_ settings: BackendSettings) -> [String] {
        var notes: [String] = []
        if isBackup != settings.backup {
            notes.append("backup \(isBackup)->\(settings.backup)")
            isBackup = settings.backup
        }
        if maxConnections != settings.maxConnections {
            notes.append("max_connections \(maxConnections.map(String.init) ?? "none")->\(settings.maxConnections.map(String.init) ?? "none")")
            storedMaxConnections.store(settings.maxConnections ?? 0, ordering: .relaxed)
        }
        if verifiesTLS != settings.tlsVerify {
            notes.append("tls_verify \(verifiesTLS)->\(settings.tlsVerify)")
            storedTLSVerify.store(settings.tlsVerify, ordering: .relaxed)
        }
        let connect = settings.connectTimeoutMilliseconds.map { $0 * 1_000_000 } ?? 0
        if storedConnectTimeout.load(ordering: .relaxed) != connect {
            notes.append("connect_timeout \(BackendSetting.connectTimeout.text(connectTimeout.map { $0.nanoseconds / 1_000_000 }))->"
                         + BackendSetting.connectTimeout.text(settings.connectTimeoutMilliseconds))
            storedConnectTimeout.store(connect, ordering: .relaxed)
        }
        let response = settings.responseTimeoutMilliseconds.map { $0 * 1_000_000 } ?? 0
        if storedResponseTimeout.load(ordering: .relaxed) != response {
            notes.append("response_timeout \(BackendSetting.responseTimeout.text(responseTimeout.map { $0.nanoseconds / 1_000_000 }))->"
                         + BackendSetting.responseTimeout.text(settings.responseTimeoutMilliseconds))
            storedResponseTimeout.store(response, ordering: .relaxed)
        }
        return notes
    }

    var currentHealth: Health { Health.allCases[health.load(ordering: .relaxed)] }

    /// Whether the health checker checks it: every backend but a disabled one.
    var isChecked: Bool { adminState != .disabled }

    /// Its health as the views report it: a backend that is not checked has none to report.
    var reportedHealth: ReportedHealth {
        guard isChecked else { return .notChecked }
        switch currentHealth {
        case .up: return .up
        case .down: return .down
        case .unknown: return .unknown
        }
    }

    /// A health change as the event log recorded it, kept for `/status` and the page.
    struct StatusChange: Sendable, Equatable {
        var health: Health
        /// Since when it has this health: the change's time, or for a restored state the
        /// time of the change the restore carries on.
        var since: Timestamp
        /// `check`, `traffic`, `outlier`, `restore`, ...
        var cause: EventCause
        /// The cause in one line, as the event's detail says it (and `lbctl why` shows it).
        var summary: String
    }

    /// Keeps `change` as its last status change.
    func noteStatusChange(_ change: StatusChange) {
        lastChange.withLock { $0 = change }
    }

    /// Its last status change, nil before any in this daemon's life.
    var lastStatusChange: StatusChange? { lastChange.withLock { $0 } }

    /// Moves to `newHealth`; returns the previous health if it changed, nil if it already was so.
    /// Exactly one of several racing callers sees the change, so it is reported once.
    func transition(to newHealth: Health) -> Health? {
        let desired = Health.allCases.firstIndex(of: newHealth) ?? 2
        var expected = health.load(ordering: .relaxed)
        while expected != desired {
            let (exchanged, original) = health.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
            if exchanged {
                if Health.allCases[expected] == .down && newHealth == .up {
                    startRamp(at: NIODeadline.now().uptimeNanoseconds)
                }
                return Health.allCases[expected]
            }
            expected = original
        }
        return nil
    }

    /// Starts slow start's ramp at `uptimeNanoseconds` (as when it came back up then).
    func startRamp(at uptimeNanoseconds: UInt64) {
        cameBackAt.store(max(1, uptimeNanoseconds), ordering: .relaxed)
    }

    /// When the current ramp started, or nil when there is none.
    var rampStart: UInt64? {
        let start = cameBackAt.load(ordering: .relaxed)
        return start == 0 ? nil : start
    }

    /// Ends the ramp that started at `start`, unless a newer one began meanwhile.
    func endRamp(startedAt start: UInt64) {
        _ = cameBackAt.compareExchange(expected: start, desired: 0, ordering: .relaxed)
    }

    /// Whether outlier detection keeps it out at `now`.
    func isEjected(at now: NIODeadline = .now()) -> Bool {
        let until = ejectedUntilStorage.load(ordering: .relaxed)
        return until != 0 && now.uptimeNanoseconds < until
    }

    /// When its ejection ends, or nil when it is not ejected.
    var ejectedUntil: NIODeadline? {
        let until = ejectedUntilStorage.load(ordering: .relaxed)
        return until == 0 ? nil : .uptimeNanoseconds(until)
    }

    /// Ejects it until `deadline`, or ends its ejection (nil).
    func setEjection(until deadline: NIODeadline?) {
        ejectedUntilStorage.store(deadline.map { max(1, $0.uptimeNanoseconds) } ?? 0, ordering: .relaxed)
    }

    var weight: Int {
        get { storedWeight.load(ordering: .relaxed) }
        set { storedWeight.store(newValue, ordering: .relaxed) }
    }

    /// A backup takes traffic only when no primary can (the registry's `backup` setting).
    var isBackup: Bool {
        get { storedBackup.load(ordering: .relaxed) }
        set { storedBackup.store(newValue, ordering: .relaxed) }
    }

    var adminState: AdminState {
        get { AdminState.allCases[storedAdminState.load(ordering: .relaxed)] }
        set { storedAdminState.store(AdminState.allCases.firstIndex(of: newValue) ?? 0, ordering: .relaxed) }
    }
}
