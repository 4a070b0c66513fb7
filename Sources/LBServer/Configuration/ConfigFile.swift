import LBStore
import NIOCore
import Yams

/// The YAML configuration file: everything the flags can say, read into a `ServerConfiguration`.
///
/// Unknown keys and bad values are errors that name the key and its line, so a typo never
/// silently falls back to a default.
struct ConfigFile {
    /// A problem in the file, as `FILE:LINE: message`.
    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    let path: String

    /// Applies the file's settings on top of `configuration`.
    static func load(path: String, into configuration: inout ServerConfiguration) throws(ParseError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ParseError(description: "cannot read config file \(path): \(Self.reason(error))")
        }
        try ConfigFile(path: path).apply(text, to: &configuration)
    }

    func apply(_ text: String, to configuration: inout ServerConfiguration) throws(ParseError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ParseError(description: "\(path): not valid YAML: \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else { throw failure(root, "the file must be a mapping of settings") }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            switch key {
            case "listen":
                let (host, port) = try hostAndPort(value, key)
                configuration.listenHost = host
                configuration.listenPort = port
            case "database": configuration.databasePath = try string(value, key)
            case "threads": configuration.threads = try integer(value, key, minimum: 1)
            case "log_level":
                let level = try string(value, key)
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                    throw failure(value, "log_level must be one of trace, debug, info, notice, warning, error, critical")
                }
                configuration.logLevel = level
            case "log_format":
                configuration.logFormat = try choice(value, key, LogFormat.init(rawValue:), LogFormat.choices)
            case "access_log":
                let destination = try string(value, key)
                guard !destination.isEmpty else { throw failure(value, "access_log must be a file path or -") }
                configuration.accessLog = destination
            case "backends":
                configuration.backendDeclarations = [:]
                configuration.backendOptions = [:]
                configuration.backends = try backends(value, declarations: &configuration.backendDeclarations,
                                                      options: &configuration.backendOptions)
            case "admin":
                let (host, port) = try hostAndPort(value, key)
                configuration.admin = (host, port)
            case "state_max_age": configuration.stateMaxAge = try duration(value, key, minimum: 0)
            case "health": try applyHealth(value, to: &configuration.health)
            case "algorithm":
                configuration.balancing.algorithm = try choice(value, key, BalancingAlgorithm.init(rawValue:),
                                                               "one of \(BalancingAlgorithm.choices)")
            case "hash_key": configuration.balancing.hashKey = try choice(value, key, HashKey.init(parsing:), HashKey.forms)
            case "slow_start": configuration.balancing.slowStart = try duration(value, key, minimum: 0)
            case "retries": configuration.proxy.retriesPerBackend = try integer(value, key, minimum: 0)
            case "retry_delay": configuration.proxy.retryDelay = try duration(value, key, minimum: 0)
            case "attempts": configuration.proxy.maximumAttempts = try integer(value, key, minimum: 1)
            case "connect_timeout": configuration.proxy.connectTimeout = try duration(value, key, minimum: 1)
            case "response_timeout": configuration.proxy.responseTimeout = try duration(value, key, minimum: 1)
            case "replay_buffer": configuration.proxy.replayBufferBytes = try integer(value, key, minimum: 0)
            case "grace_period": configuration.gracePeriod = try duration(value, key, minimum: 0)
            case "max_connections": configuration.proxy.maxConnections = try integer(value, key, minimum: 1)
            case "max_request_line": configuration.proxy.maxRequestLineBytes = try integer(value, key, minimum: 16)
            case "max_header_bytes": configuration.proxy.maxHeaderBytes = try integer(value, key, minimum: 256)
            case "max_headers": configuration.proxy.maxHeaders = try integer(value, key, minimum: 1)
            case "header_timeout": configuration.proxy.headerTimeout = try duration(value, key, minimum: 1)
            case "idle_timeout": configuration.proxy.clientIdleTimeout = try duration(value, key, minimum: 1)
            case "body_timeout": configuration.proxy.bodyTimeout = try duration(value, key, minimum: 1)
            case "tunnel_idle_timeout": configuration.proxy.tunnelIdleTimeout = try duration(value, key, minimum: 1)
            case "upgrade_protocols":
                switch UpgradePolicy.allowedList(parsing: try string(value, key)) {
                case .success(let list): configuration.proxy.upgradeProtocols = list
                case .failure(let problem): throw failure(value, "upgrade_protocols: \(problem.description)")
                }
            default:
                throw failure(keyNode, "unknown setting '\(key)'")
            }
        }
    }

    private func applyHealth(_ node: Node, to health: inout HealthSettings) throws(ParseError) {
        guard let mapping = node.mapping else { throw failure(node, "health must be a mapping") }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            switch key {
            case "interval": health.interval = try duration(value, "health.interval", minimum: 1)
            case "down_interval": health.downInterval = try duration(value, "health.down_interval", minimum: 1)
            case "timeout": health.timeout = try duration(value, "health.timeout", minimum: 1)
            case "rise": health.rise = try integer(value, "health.rise", minimum: 1)
            case "fall": health.fall = try integer(value, "health.fall", minimum: 1)
            case "path":
                let path = try string(value, "health.path")
                guard path.hasPrefix("/") else { throw failure(value, "health.path must start with /") }
                health.probe = .http(path: path)
            default:
                throw failure(keyNode, "unknown setting 'health.\(key)'")
            }
        }
    }

    /// A list whose items are a URL, or a mapping `{url, weight, state}` that also declares the
    /// backend's weight and admin state (which then override an operator's runtime change only
    /// when this file changes them; see README).
    private func backends(_ node: Node, declarations: inout [String: (weight: Int?, adminState: AdminState?)],
                          options: inout [String: BackendOptions]) throws(ParseError) -> [BackendURL] {
        guard let sequence = node.sequence else { throw failure(node, "backends must be a list of URLs") }
        var result: [BackendURL] = []
        for item in sequence {
            var text: String?
            var weight: Int?
            var state: AdminState?
            var extra = BackendOptions()
            if let scalar = item.scalar {
                text = scalar.string
            } else if let mapping = item.mapping {
                for (keyNode, value) in mapping {
                    switch keyNode.string ?? "" {
                    case "url": text = try string(value, "backends.url")
                    case "weight": weight = try integer(value, "backends.weight", minimum: 0)
                    case "state":
                        let name = try string(value, "backends.state")
                        guard let parsed = AdminState(rawValue: name) else {
                            throw failure(value, "backends.state must be enabled, drained or disabled")
                        }
                        state = parsed
                    case "backup":
                        guard let flag = value.scalar.flatMap({ Bool($0.string) }) else {
                            throw failure(value, "backends.backup must be true or false")
                        }
                        extra.backup = flag
                    case "max_connections":
                        extra.maxConnections = try integer(value, "backends.max_connections", minimum: 1)
                    case "connect_timeout":
                        extra.connectTimeout = try duration(value, "backends.connect_timeout", minimum: 1)
                    case "response_timeout":
                        extra.responseTimeout = try duration(value, "backends.response_timeout", minimum: 1)
                    default:
                        throw failure(keyNode, "unknown setting 'backends.\(keyNode.string ?? "")'")
                    }
                }
            }
            guard let text else { throw failure(item, "each backend must be a URL or a mapping with url") }
            let url: BackendURL
            do {
                url = try BackendURL(parsing: text)
            } catch {
                throw failure(item, error.description)
            }
            guard !result.contains(url) else { throw failure(item, "backend \(url) is listed twice") }
            result.append(url)
            if weight != nil || state != nil { declarations[url.text] = (weight, state) }
            if extra != BackendOptions() { options[url.text] = extra }
        }
        return result
    }

    private func hostAndPort(_ node: Node, _ key: String) throws(ParseError) -> (String, Int) {
        let text = try string(node, key)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65_535).contains(port) else {
            throw failure(node, "\(key) wants HOST:PORT, not '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    private func string(_ node: Node, _ key: String) throws(ParseError) -> String {
        guard let scalar = node.scalar else { throw failure(node, "\(key) must be a single value") }
        return scalar.string
    }

    /// A single value that `parse` accepts; else an error saying the key must be `expected`.
    private func choice<Value>(_ node: Node, _ key: String, _ parse: (String) -> Value?,
                               _ expected: String) throws(ParseError) -> Value {
        guard let value = parse(try string(node, key)) else { throw failure(node, "\(key) must be \(expected)") }
        return value
    }

    private func integer(_ node: Node, _ key: String, minimum: Int) throws(ParseError) -> Int {
        guard let value = node.scalar.flatMap({ Int($0.string) }), value >= minimum else {
            throw failure(node, "\(key) must be a whole number of at least \(minimum)")
        }
        return value
    }

    private func duration(_ node: Node, _ key: String, minimum: Int64) throws(ParseError) -> TimeAmount {
        guard let text = node.scalar?.string, let milliseconds = TimeParsing.milliseconds(fromDuration: text),
              milliseconds >= minimum else {
            throw failure(node, "\(key) must be a duration such as 250ms, 2s or 1m")
        }
        return .milliseconds(milliseconds)
    }

    private func failure(_ node: Node, _ message: String) -> ParseError {
        ParseError(description: "\(path):\(node.mark?.line ?? 0): \(message)")
    }

    private static func reason(_ error: Error) -> String {
        let text = "\(error)"
        if text.contains("No such file") || text.contains("doesn’t exist") || text.contains("does not exist") {
            return "no such file"
        }
        if text.contains("ermission") { return "permission denied" }
        return text
    }
}
