import CSQLite

/// An error from the store, each with a message an operator can act on.
public struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The broad class of the failure, for callers that branch on it (exit codes, retry policy).
    public enum Kind: Equatable, Sendable {
        /// The path does not exist and the caller asked not to create it.
        case missing
        /// The path names a directory.
        case isDirectory
        /// The file exists but is not an SQLite database, or is damaged.
        case notADatabase
        /// The file is an SQLite database that belongs to another application.
        case foreignDatabase
        /// The file was written by a newer version of this software.
        case tooNew
        /// The file or its folder cannot be written.
        case readOnly
        /// Another connection holds a lock longer than the busy timeout.
        case busy
        /// The disk is full.
        case full
        /// A named backend is not in the registry.
        case unknownBackend
        /// A value given by the caller is out of range or malformed.
        case invalidValue
        /// Any other SQLite failure.
        case sqlite
        /// The database server cannot be reached (refused, timed out, gone mid-query).
        case unreachable
        /// The database server refused the credentials.
        case authentication
        /// Any other failure the database server reported.
        case server
        /// The file at the database's path is no longer the one that was opened: it was deleted,
        /// renamed or replaced, so what is written to the open file would reach nobody.
        case orphaned
    }

    public let kind: Kind
    public let message: String
    /// The SQLite result code, where one caused this error.
    public let code: Int32?

    public init(_ kind: Kind, _ message: String, code: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var description: String { message }

    /// Maps an SQLite primary result code to the kind a caller can act on.
    static func kind(forSQLiteCode code: Int32) -> Kind {
        switch code & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy
        case SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM: return .readOnly
        case SQLITE_FULL: return .full
        case SQLITE_NOTADB, SQLITE_CORRUPT: return .notADatabase
        default: return .sqlite
        }
    }
}
