import Foundation
import LBStore
@testable import LBStore

/// A recorded incident for `lbctl backends --at` and `lbctl why`, written through `Store` the way
/// the daemon and `lbctl` write it: status changes with their cause and evidence, admin changes
/// with actor and command, a removal and a re-add, a restore at startup, and one backend whose
/// records predate structured data (detail text only). Minutes are counted from 02:00Z.
///
/// | backend | story |
/// | --- | --- |
/// | a (config, weight 2) | added -60; up -50 (check); down 0 by traffic (request r1); up 10 by check (rise 2) |
/// | b (runtime) | added -60 by alice; up -50; drained 5 by alice; weight 1->4 at 12 by bob; removed 15 by carol; re-added 20 by dave (weight 3); up 25; origin runtime->config 35 |
/// | c | added 30 by lbserver declared disabled; enabled 40 by erin |
/// | d (old rows) | added -40; down -30 (check, fall=3: connection refused); disabled -20 by old; up -10 (cause=health) |
/// | e | added -60; up -50; down 20 by checks (fall 3), still down |
/// | f | added -60; down -20 by check; restored down at 0 (state 2 min old); up 3 by check |
/// | g | added -60; never anything else |
/// | h (old rows) | added -60; up -50; request r9 fails twice at 7; down 8 by traffic naming r9 |
struct IncidentLog {
    static let urls = (a: "http://127.0.0.1:9001", b: "http://127.0.0.1:9002", c: "http://127.0.0.1:9003",
                       d: "http://127.0.0.1:9004", e: "http://127.0.0.1:9005", f: "http://127.0.0.1:9006",
                       g: "http://127.0.0.1:9007", h: "http://127.0.0.1:9008")

    static func at(_ minutes: Double) -> Timestamp {
        EventsCommandTests.base.adding(milliseconds: Int64((minutes * 60_000).rounded()))
    }

    /// `at(minutes)` as `--at` takes it.
    static func instant(_ minutes: Double) -> String { at(minutes).rfc3339 }

    let store: Store

    /// Writes the whole incident into a new database at `path`.
    @discardableResult
    static func write(to path: String) throws -> IncidentLog {
        let log = IncidentLog(store: try Store(path: path))
        try log.writeA()
        try log.writeB()
        try log.writeC()
        try log.writeD()
        try log.writeE()
        try log.writeF()
        try log.writeG()
        try log.writeH()
        return log
    }

    func id(_ url: String) throws -> Int64 {
        guard let backend = try store.backend(url: url) else { throw StoreError(.unknownBackend, "no backend \(url)") }
        return backend.id
    }

    func status(_ url: String, at minutes: Double, _ from: Health, _ to: Health, cause: EventCause, summary: String,
                threshold: Int? = nil, evidence: [Evidence] = [], requestID: String? = nil,
                stateAge: Int64? = nil) throws {
        try store.record(Event(at: Self.at(minutes), kind: .statusChange, backendID: try id(url), requestID: requestID,
                               detail: "\(from.rawValue)->\(to.rawValue) cause=\(summary)",
                               data: EventData(from: from.rawValue, to: to.rawValue, cause: cause, threshold: threshold,
                                               evidence: evidence, stateAgeMs: stateAge)))
    }

    func check(_ minutes: Double, error: String? = nil, latency: Double) -> Evidence {
        Evidence(at: Self.at(minutes), source: .check, error: error, latencyMs: latency)
    }

    func upByCheck(_ url: String, at minutes: Double, from: Health = .unknown) throws {
        try status(url, at: minutes, from, .up, cause: .check, summary: "check passed 1 time(s), rise=1", threshold: 1,
                   evidence: [check(minutes, latency: 1.5)])
    }

    private func writeA() throws {
        let url = Self.urls.a
        try store.addBackend(url: url, weight: 2, origin: .config, actor: "lbserver",
                             command: "startup: declared by the configuration", at: Self.at(-60))
        try upByCheck(url, at: -50)
        let tries = (1...3).map { attempt in
            Evidence(at: Self.at(-0.001 * Double(4 - attempt)), source: .request, requestID: "r1", attempt: 1,
                     error: "connection refused")
        }
        for evidence in tries {
            try store.record(Event(at: Timestamp(milliseconds: evidence.at), kind: .failure, backendID: try id(url),
                                   requestID: "r1", attempt: 1, detail: "connection refused"))
        }
        try status(url, at: 0, .up, .down, cause: .traffic, summary: "traffic: 3 failed tries of request r1",
                   threshold: 3, evidence: tries, requestID: "r1")
        try status(url, at: 10, .down, .up, cause: .check, summary: "check passed 2 time(s), rise=2", threshold: 2,
                   evidence: [check(9.9, latency: 2.25), check(10, latency: 1.75)])
    }

    private func writeB() throws {
        let url = Self.urls.b
        try store.addBackend(url: url, actor: "alice", command: "lbctl add \(url)", at: Self.at(-60))
        try upByCheck(url, at: -50)
        try store.setAdminState(.drained, url: url, actor: "alice", command: "lbctl drain \(url)", at: Self.at(5))
        try store.setWeight(4, url: url, actor: "bob", command: "lbctl weight \(url) 4", at: Self.at(12))
        try store.removeBackend(url: url, actor: "carol", command: "lbctl remove \(url)", at: Self.at(15))
        try store.addBackend(url: url, weight: 3, actor: "dave", command: "lbctl add \(url) --weight 3", at: Self.at(20))
        try upByCheck(url, at: 25)
        try store.record(Event(at: Self.at(35), kind: .adminChange, backendID: try id(url),
                               detail: "origin runtime->config (now declared by the configuration) by=lbserver",
                               data: EventData(action: "origin", from: "runtime", to: "config", actor: "lbserver",
                                               command: "startup: now declared by the configuration")))
    }

    private func writeC() throws {
        let url = Self.urls.c
        // As `Store.reconcile` adds a backend the configuration declares disabled.
        try store.addBackend(url: url, origin: .config, actor: "lbserver", at: Self.at(30))
        try withConnection { connection in
            try connection.execute("""
                UPDATE events SET data = json_set(data, '$.to', 'disabled',
                    '$.command', 'startup: declared by the configuration')
                WHERE backend_id = \(try id(url)) AND kind = 'admin_change'
                """)
        }
        try store.setAdminState(.enabled, url: url, actor: "erin", command: "lbctl enable \(url)", at: Self.at(40))
    }

    private func writeD() throws {
        let url = Self.urls.d
        let backend = try store.addBackend(url: url, weight: 2, actor: "old", at: Self.at(-40))
        func legacy(_ minutes: Double, _ kind: EventKind, _ detail: String) throws {
            try store.record(Event(at: Self.at(minutes), kind: kind, backendID: backend.id, detail: detail))
        }
        try legacy(-30, .statusChange, "unknown->down cause=check failed 3 time(s), fall=3: connection refused")
        try legacy(-20, .adminChange, "admin_state enabled->disabled by=old")
        try legacy(-10, .statusChange, "down->up cause=health")
        // Written before schema v5: no structured data at all, the add included.
        try withConnection { try $0.execute("UPDATE events SET data = NULL WHERE backend_id = \(backend.id)") }
    }

    private func writeE() throws {
        let url = Self.urls.e
        try store.addBackend(url: url, actor: "alice", at: Self.at(-60))
        try upByCheck(url, at: -50)
        try status(url, at: 20, .up, .down, cause: .check,
                   summary: "check failed 3 time(s), fall=3: HTTP 503 from /healthz", threshold: 3,
                   evidence: [check(19.9, error: "connection refused", latency: 0.5),
                              check(19.95, error: "timed out after 2s", latency: 2000),
                              check(20, error: "HTTP 503 from /healthz", latency: 12.125)])
    }

    private func writeF() throws {
        let url = Self.urls.f
        try store.addBackend(url: url, actor: "alice", at: Self.at(-60))
        try status(url, at: -20, .unknown, .down, cause: .check, summary: "check failed 1 time(s), fall=1: refused",
                   threshold: 1, evidence: [check(-20, error: "connection refused", latency: 0.25)])
        try status(url, at: 0, .unknown, .down, cause: .restore,
                   summary: "restore: down since \(Self.instant(-20)), state 120s old",
                   evidence: [Evidence(at: Self.at(-20), source: .check, error: "recorded down before the restart")],
                   stateAge: 120_000)
        try status(url, at: 3, .down, .up, cause: .check, summary: "check passed 1 time(s), rise=1", threshold: 1,
                   evidence: [check(3, latency: 0.75)])
    }

    private func writeG() throws {
        try store.addBackend(url: Self.urls.g, actor: "alice", at: Self.at(-60))
    }

    private func writeH() throws {
        let url = Self.urls.h
        let backend = try store.addBackend(url: url, actor: "alice", at: Self.at(-60))
        try upByCheck(url, at: -50)
        try store.record(Event(at: Self.at(7), kind: .failure, backendID: backend.id, requestID: "r8", attempt: 1,
                               detail: "connection reset"))
        try store.record(Event(at: Self.at(7.5), kind: .failure, backendID: backend.id, requestID: "r9", attempt: 1,
                               detail: "connection refused"))
        try store.record(Event(at: Self.at(7.6), kind: .failure, backendID: backend.id, requestID: "r9", attempt: 2,
                               detail: "connection refused again"))
        try store.record(Event(at: Self.at(8), kind: .statusChange, backendID: backend.id, requestID: "r9",
                               detail: "up->down cause=traffic"))
        try withConnection {
            try $0.execute("UPDATE events SET data = NULL WHERE backend_id = \(backend.id) AND kind = 'status_change'")
        }
    }

    /// Runs `body` on a connection of its own, for rewriting rows the way older versions left them.
    private func withConnection(_ body: (Connection) throws -> Void) throws {
        let connection = try SQLiteConnection(path: store.path, mode: .readWrite)
        defer { connection.close() }
        try body(connection)
    }
}
