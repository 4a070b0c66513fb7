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
    }

    struct BackendStatus: Encodable {
        var url: String
        var health: String
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
