import LBStore

/// A failure `lbctl` reports as one line on standard error, with a sysexits(3) exit status that
/// scripts can branch on.
struct CLIError: Error, Equatable, CustomStringConvertible {
    /// The exit statuses `lbctl` uses, from sysexits(3).
    enum Status: Int32, Sendable {
        /// EX_USAGE: the command line is wrong (ArgumentParser uses it for its own errors too).
        case usage = 64
        /// EX_DATAERR: a value is malformed or names nothing (URL, duration, unknown backend).
        case dataError = 65
        /// EX_NOINPUT: the database is missing, unreadable, or not a load balancer database.
        case noInput = 66
        /// EX_UNAVAILABLE: the database server cannot be reached, or refused the credentials.
        case unavailable = 69
        /// EX_SOFTWARE: a database failure nothing else explains.
        case software = 70
        /// EX_IOERR: the disk is full or the file cannot be written.
        case ioError = 74
        /// EX_TEMPFAIL: another process held the database lock too long; try again.
        case temporaryFailure = 75
        /// EX_NOPERM: the database is read-only for this user.
        case noPermission = 77
    }

    let status: Status
    let message: String

    init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }

    /// A value the operator typed that cannot be used (exit 65).
    static func malformed(_ message: String) -> CLIError { CLIError(.dataError, message) }

    /// Translates a store failure; `reading` says whether the command only reads, for which a
    /// file that cannot be opened is missing input rather than a permission problem.
    init(_ error: StoreError, reading: Bool) {
        switch error.kind {
        case .missing, .isDirectory, .notADatabase, .foreignDatabase, .tooNew:
            self.init(.noInput, error.message)
        case .readOnly:
            self.init(reading ? .noInput : .noPermission, error.message)
        case .unknownBackend, .invalidValue:
            self.init(.dataError, error.message)
        case .busy:
            self.init(.temporaryFailure, "\(error.message) (another process holds the database lock; try again)")
        case .full, .orphaned:
            self.init(.ioError, error.message)
        case .unreachable, .authentication:
            self.init(.unavailable, error.message)
        case .sqlite, .server:
            self.init(.software, error.message)
        }
    }
}
