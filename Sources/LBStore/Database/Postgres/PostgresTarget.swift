import Foundation

/// A PostgreSQL database as a `postgres://` URL names it, the way libpq reads one:
///
///     postgres://USER@HOST:PORT/DATABASE?sslmode=require&password_file=/etc/lb/db-password
///     postgres://USER@/DATABASE?host=/run/postgresql          (a Unix socket's directory)
///
/// Query parameters: `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`; libpq's
/// default `prefer`), `sslrootcert` (the CA file for the verifying modes; else the system's),
/// `password_file`, `host` (a socket directory, or a host name) and `connect_timeout` (seconds).
/// A password is never part of the URL: it comes from `PGPASSWORD`, the `password_file` or the
/// password file libpq reads (`PGPASSFILE`, else `~/.pgpass`), so it is never on a command line,
/// in a log or in an event.
public struct PostgresTarget: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    /// The host to reach over TCP, or nil for a Unix socket in `socketDirectory`.
    public var host: String?
    public var port: Int
    public var socketDirectory: String?
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCertificate: String?
    public var passwordFile: String?
    public var connectTimeoutSeconds: Int

    public init(url text: String) throws(StoreError) {
        func invalid(_ why: String) -> StoreError {
            StoreError(.invalidValue, "database URL \(Self.redacted(text)): \(why)")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("not a postgres:// URL")
        }
        if components.password != nil {
            throw invalid("a password does not belong in the URL: use PGPASSWORD, a password_file or PGPASSFILE")
        }
        user = components.user.flatMap { $0.removingPercentEncoding } ?? ""
        guard !user.isEmpty else { throw invalid("no user name (postgres://USER@HOST/DATABASE)") }
        let path = components.percentEncodedPath
        database = String(path.drop(while: { $0 == "/" })).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else { throw invalid("no database name (postgres://USER@HOST/DATABASE)") }
        port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw invalid("port \(port) is out of range") }
        host = components.host.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        socketDirectory = nil
        sslMode = .prefer
        sslRootCertificate = nil
        passwordFile = nil
        connectTimeoutSeconds = 10
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw invalid("sslmode \(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert": sslRootCertificate = value
            case "password_file": passwordFile = value
            case "host":
                if value.hasPrefix("/") { socketDirectory = value; host = nil } else { host = value }
            case "port":
                guard let number = Int(value), (1...65_535).contains(number) else { throw invalid("port \(value) is out of range") }
                port = number
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else { throw invalid("connect_timeout \(value) is not a number of seconds") }
                connectTimeoutSeconds = seconds
            case "password":
                throw invalid("a password does not belong in the URL: use PGPASSWORD, a password_file or PGPASSFILE")
            default:
                throw invalid("unknown parameter \(item.name)")
            }
        }
        if host == nil && socketDirectory == nil { socketDirectory = "/var/run/postgresql" }
        if socketDirectory != nil && sslMode != .prefer && sslMode != .disable {
            throw invalid("sslmode \(sslMode.rawValue) over a Unix socket: TLS is for TCP connections")
        }
    }

    /// The URL as given, less nothing secret (it holds no password), in a canonical spelling.
    public var description: String {
        var text = "postgres://\(user)@"
        if let host { text += host.contains(":") ? "[\(host)]" : host }
        if host != nil || port != 5432 { text += port == 5432 ? "" : ":\(port)" }
        text += "/\(database)"
        var parameters: [String] = []
        if let socketDirectory { parameters.append("host=\(socketDirectory)") }
        if sslMode != .prefer { parameters.append("sslmode=\(sslMode.rawValue)") }
        if !parameters.isEmpty { text += "?" + parameters.joined(separator: "&") }
        return text
    }

    /// `text` with a password in its user-info or its query replaced by `***`, for messages
    /// about a URL refused.
    static func redacted(_ text: String) -> String {
        var text = text
        if let query = text.firstIndex(of: "?") {
            let parameters = text[text.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false)
                .map { $0.lowercased().hasPrefix("password=") ? "password=***" : String($0) }
            text = String(text[...query]) + parameters.joined(separator: "&")
        }
        guard let schemeEnd = text.range(of: "://"), let at = text[schemeEnd.upperBound...].firstIndex(of: "@") else {
            return text
        }
        let userInfo = text[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }

    // MARK: The password

    /// The password for this target, looked for as libpq does: `PGPASSWORD`, then the URL's
    /// `password_file`, then `PGPASSFILE` (else `~/.pgpass`); nil when none applies (a server
    /// that trusts the connection needs none). A password file that others may read is refused.
    public func password(environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) -> String? {
        if let password = environment["PGPASSWORD"], !password.isEmpty { return password }
        if let passwordFile {
            let text = try Self.readPrivateFile(passwordFile, what: "password_file")
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        let passFile = environment["PGPASSFILE"]
            ?? environment["HOME"].map { $0 + "/.pgpass" }
        guard let passFile, FileManager.default.fileExists(atPath: passFile) else { return nil }
        let text = try Self.readPrivateFile(passFile, what: "PGPASSFILE")
        return Self.passFileEntry(text, host: host ?? "localhost", port: port, database: database, user: user)
    }

    /// The password of the first line of a libpq password file that matches; `*` matches
    /// anything, `\` escapes `:` and `\`, `#` starts a comment line.
    static func passFileEntry(_ text: String, host: String, port: Int, database: String, user: String) -> String? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            var fields: [String] = [""]
            var escaped = false
            for character in line {
                if escaped { fields[fields.count - 1].append(character); escaped = false }
                else if character == "\\" { escaped = true }
                else if character == ":" && fields.count < 5 { fields.append("") }
                else { fields[fields.count - 1].append(character) }
            }
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    private static func readPrivateFile(_ path: String, what: String) throws(StoreError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw StoreError(.missing, "\(what) \(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw StoreError(.invalidValue, "\(what) \(path) may be read by others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.missing, "\(what) \(path) cannot be read")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
