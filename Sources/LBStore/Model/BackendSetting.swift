/// One per-backend setting the registry holds beside weight and admin state, by the name an
/// operator types (`lbctl set URL backup=true`), the config file's key, and the action of the
/// `admin_change` event that records a change of it.
///
/// Each is stored as one integer column (a flag as 0 or 1, a limit as a count or milliseconds,
/// NULL for "none": the global setting), with a `config_` column beside it for the value the
/// configuration last declared (NULL: not declared).
public enum BackendSetting: String, CaseIterable, Sendable {
    case backup
    case maxConnections = "max_connections"
    case connectTimeout = "connect_timeout"
    case responseTimeout = "response_timeout"
    case tlsVerify = "tls_verify"

    /// The `backends` column that holds it.
    public var column: String {
        switch self {
        case .backup, .maxConnections, .tlsVerify: return rawValue
        case .connectTimeout, .responseTimeout: return rawValue + "_ms"
        }
    }

    /// The column that holds what the configuration last declared of it.
    public var configColumn: String { "config_" + column }

    /// Its value when nothing set it: not a backup, no limits of its own, certificates verified.
    public var defaultValue: Int64? { BackendSettings()[self] }

    var isFlag: Bool { self == .backup || self == .tlsVerify }
    var isDuration: Bool { self == .connectTimeout || self == .responseTimeout }

    /// A stored value as the operator reads and types it: `true`/`false`, a count, a duration
    /// (`500ms`, `2s`), or `none` for the global setting.
    public func text(_ value: Int64?) -> String {
        guard let value else { return "none" }
        if isFlag { return value != 0 ? "true" : "false" }
        return isDuration ? Self.durationText(milliseconds: value) : String(value)
    }

    /// Reads a value as `text` writes it (a duration in any form `TimeParsing.duration` takes);
    /// throws `.invalidValue` with what it must be.
    public func value(parsing text: String) throws -> Int64? {
        let given = text.trimmingSpaces
        if isFlag {
            switch given.lowercased() {
            case "true": return 1
            case "false": return 0
            default: throw StoreError(.invalidValue, "\(rawValue) must be true or false, not '\(text)'")
            }
        }
        if given.lowercased() == "none" { return nil }
        if isDuration {
            guard let milliseconds = TimeParsing.milliseconds(fromDuration: given), milliseconds >= 1 else {
                throw StoreError(.invalidValue, "\(rawValue) must be a duration of at least 1ms (250ms, 2s) or none, not '\(text)'")
            }
            return milliseconds
        }
        guard let count = Int64(given), count >= 1, count <= Int64(Int32.max) else {
            throw StoreError(.invalidValue, "\(rawValue) must be a whole number of at least 1 or none, not '\(text)'")
        }
        return count
    }

    /// `1500` as `1500ms`, `2000` as `2s`, `90000` as `1m30s`: the largest units that are exact.
    static func durationText(milliseconds: Int64) -> String {
        let units: [(String, Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        guard milliseconds % 1_000 == 0, milliseconds > 0 else { return "\(milliseconds)ms" }
        var rest = milliseconds
        var text = ""
        for (unit, size) in units where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }
}
