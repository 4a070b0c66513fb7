/// Writes Prometheus's text exposition format (0.0.4): each family's `# HELP` and `# TYPE` lines,
/// then its samples, label values escaped as the format asks. Values come straight from the
/// daemon's atomics at each scrape, so nothing is mirrored into a registry of its own.
struct PrometheusText {
    enum Kind: String {
        case counter, gauge, histogram
    }

    private(set) var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(16_384)
    }

    /// Starts a family; its samples follow. `help` is one line.
    mutating func family(_ name: String, _ kind: Kind, help: String) {
        line("# HELP \(name) \(Self.escapeHelp(help))")
        line("# TYPE \(name) \(kind.rawValue)")
    }

    /// One sample of an integer value.
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Int) {
        line("\(name)\(Self.labelText(labels)) \(value)")
    }

    /// One sample of a real value.
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        line("\(name)\(Self.labelText(labels)) \(Self.number(value))")
    }

    /// A family of one sample without labels.
    mutating func single(_ name: String, _ kind: Kind, help: String, _ value: Int) {
        family(name, kind, help: help)
        sample(name, value)
    }

    mutating func single(_ name: String, _ kind: Kind, help: String, _ value: Double) {
        family(name, kind, help: help)
        sample(name, value)
    }

    /// One sample without labels.
    mutating func sample(_ name: String, _ value: Int) { sample(name, [:], value) }
    mutating func sample(_ name: String, _ value: Double) { sample(name, [:], value) }

    /// A histogram's samples: `bounds` in nanoseconds, `buckets` not cumulative with one more entry
    /// than `bounds` (those above every bound), written in seconds. `labels` are written first,
    /// before `le`.
    mutating func histogram(_ name: String, _ labels: [(String, String)] = [], bounds: [Int], buckets: [Int],
                            sumNanoseconds: Int) {
        let prefix = labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"," }.joined()
        let plain = labels.isEmpty ? "" : "{" + String(prefix.dropLast()) + "}"
        var cumulative = 0
        for (bound, count) in zip(bounds, buckets) {
            cumulative += count
            line("\(name)_bucket{\(prefix)le=\"\(Self.bound(bound))\"} \(cumulative)")
        }
        let total = buckets.reduce(0, +)
        line("\(name)_bucket{\(prefix)le=\"+Inf\"} \(total)")
        line("\(name)_sum\(plain) \(Self.number(Double(sumNanoseconds) / 1e9))")
        line("\(name)_count\(plain) \(total)")
    }

    private mutating func line(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    private static func labelText(_ labels: KeyValuePairs<String, String>) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.key)=\"\(escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
    }

    /// A number as Prometheus reads it: `1`, `0.00025`, `+Inf`, `NaN`.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    /// A bucket's bound in seconds as the daemon always wrote it: `0.00025`, `1.0`, `30.0`.
    static func bound(_ nanoseconds: Int) -> String {
        let seconds = Double(nanoseconds) / 1e9
        return seconds == seconds.rounded() ? "\(Int(seconds)).0" : "\(seconds)"
    }

    /// A label value: backslash, double quote and line feed escaped (the format's rule).
    static func escapeLabel(_ value: String) -> String { escape(value, quote: true) }

    /// Help text: backslash and line feed escaped.
    static func escapeHelp(_ value: String) -> String { escape(value, quote: false) }

    private static func escape(_ value: String, quote: Bool) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"" where quote: escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
