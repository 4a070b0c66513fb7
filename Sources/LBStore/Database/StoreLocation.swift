import Foundation

/// Where the state is kept: an SQLite file (the embedded default) or a PostgreSQL database
/// shared by a fleet. `--db` and `LB_DB` take either: a `postgres://` (or `postgresql://`) URL
/// names a server, anything else is a file path.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case file(String)
    case postgres(PostgresTarget)

    /// Reads `text` as a URL when it starts with `postgres://` or `postgresql://`, else as a path.
    public init(parsing text: String) throws(StoreError) {
        let lowered = text.lowercased()
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            self = .postgres(try PostgresTarget(url: text))
        } else if lowered.contains("://") {
            throw StoreError(.invalidValue, "database \(text): a location is a file path or a postgres:// URL")
        } else {
            self = .file(text)
        }
    }

    /// The location as an operator would name it; a URL never shows a password.
    public var description: String {
        switch self {
        case .file(let path): path
        case .postgres(let target): target.description
        }
    }

    /// The file's path, for an SQLite location.
    public var path: String? {
        if case .file(let path) = self { return path }
        return nil
    }
}
