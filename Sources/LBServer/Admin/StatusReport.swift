import Foundation
import LBStore

/// What `GET /status` on the admin listener answers: the daemon's own view of its backends and
/// of its event log, as JSON with snake_case keys.
struct StatusReport: Encodable {
    struct Database: Encodable {
        var path: String
        /// False while the event log cannot be written (locked, read-only, full).
        var writable: Bool
        var lastError: String?
        var eventsWritten: Int
        var eventsDropped: Int
        var eventsQueued: Int
        var failedBatches: Int
        /// The size of its write-ahead log (SQLite's `-wal` file; with PostgreSQL, the outbox's).
        var walBytes: Int
    }

    /// One health-check result in a backend's recent series.
    struct RecentCheck: Encodable {
        var at: String
        var passed: Bool
        var latencyMs: Double
        var error: String?
        /// `at` as a number, for drawing the strip to time; not in the JSON.
        var atMilliseconds: Int64 = 0

        private enum CodingKeys: String, CodingKey {
            case at, passed, latencyMs, error
        }
    }

    /// What the proxy saw of a backend over the last minute (less just after a start).
    struct LastMinute: Encodable, Equatable {
        /// How many seconds the figures cover.
        var seconds: Double
        var requestsPerSecond: Double
        /// Failed tries and 5xx answers per second.
        var errorsPerSecond: Double
        /// Latency quantiles of its answers, from a try's start to the answer's end; nil when
        /// it answered nothing.
        var p50Ms: Double?
        var p99Ms: Double?
    }

    /// Why a backend is down, as the status change this daemon recorded says it.
    struct Down: Encodable, Equatable {
        /// RFC 3339.
        var since: String
        /// `check`, `traffic`, `outlier`, `restore`, ...
        var cause: String
        /// The cause in one line, as the event log holds it.
        var detail: String
        /// `since` as a number, for the page; not in the JSON.
        var sinceMilliseconds: Int64 = 0

        private enum CodingKeys: String, CodingKey {
            case since, cause, detail
        }
    }

    struct BackendStatus: Encodable {
        var url: String
        /// `up`, `down`, `unknown`, or `not_checked` (disabled: the daemon does not check it).
        var health: String
        /// False for a backend the checks skip (disabled).
        var checked: Bool
        var adminState: String
        var weight: Int
        var inFlight: Int
        /// Used only when no primary backend can take the request.
        var backup: Bool
        /// Its own limit on requests in flight, when the configuration sets one.
        var maxConnections: Int?
        /// While outlier detection keeps it out: when that ends (RFC 3339).
        var ejectedUntil: String?
        /// The last health-check results kept in memory (up to 60), oldest first.
        var recentChecks: [RecentCheck]
        /// Requests, errors and latency over the last minute; nil before the first sample.
        var lastMinute: LastMinute?
        /// For a down backend: since when and why.
        var down: Down?
    }

    var listen: String
    /// This build's version (`lbserver --version`).
    var version: String
    var startedAt: String
    var algorithm: String
    var openConnections: Int
    var database: Database
    var backends: [BackendStatus]

    /// The report as JSON text.
    func json() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
