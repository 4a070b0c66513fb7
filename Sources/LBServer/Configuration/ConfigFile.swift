import LBStore
import NIOCore
import Yams

/// The YAML configuration file: the keys of the `Settings` table, read into a `ServerConfiguration`
/// by the same parsers as the flags.
///
/// Unknown keys and bad values are `ConfigurationError`s that name the key and its line, so a typo
/// never silently falls back to a default.
struct ConfigFile {
    /// A problem in the file; its description is `FILE:LINE: message`.
    typealias ParseError = ConfigurationError

    let path: String

    /// Applies the file's settings on top of `configuration`.
    static func load(path: String, into configuration: inout ServerConfiguration) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(kind: .unreadableFile, file: path, line: nil, key: nil,
                                     message: "cannot read config file \(path): \(Self.reason(error))")
        }
        try ConfigFile(path: path).apply(text, to: &configuration)
    }

    func apply(_ text: String, to configuration: inout ServerConfiguration) throws(ConfigurationError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(kind: .notYAML, file: path, line: nil, key: nil, message: "not valid YAML: \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else { throw shape(root, nil, "the file must be a mapping of settings") }
        try apply(mapping, section: nil, to: &configuration)
    }

    /// Reads each key of `mapping` (the file's, or a section's such as `health`) through its setting.
    private func apply(_ mapping: Node.Mapping, section: String?, to configuration: inout ServerConfiguration)
        throws(ConfigurationError) {
        for (keyNode, value) in mapping {
            let key = section.map { "\($0).\(keyNode.string ?? "")" } ?? (keyNode.string ?? "")
            if key == Settings.backends.key {
                configuration.backendDeclarations = [:]
                configuration.backendOptions = [:]
                configuration.backends = try backends(value, declarations: &configuration.backendDeclarations,
                                                      options: &configuration.backendOptions)
            } else if key == Settings.tls.key {
                configuration.tls.certificates = try certificates(value)
            } else if let setting = Settings.setting(forKey: key) {
                let text = try string(value, key)
                do {
                    try setting.assign(text, to: &configuration)
                } catch {
                    throw refused(value, key, error)
                }
            } else if Settings.isSection(key) {
                guard let nested = value.mapping else { throw shape(value, key, "\(key) must be a mapping") }
                try apply(nested, section: key, to: &configuration)
            } else {
                throw ConfigurationError(kind: .unknownSetting, file: path, line: line(keyNode), key: key,
                                         message: "unknown setting '\(key)'")
            }
        }
    }

    /// A list whose items are a URL, or a mapping `{url, weight, state}` that also declares the
    /// backend's weight and admin state (which then override an operator's runtime change only
    /// when this file changes them; see README).
    private func backends(_ node: Node, declarations: inout [String: (weight: Int?, adminState: AdminState?)],
                          options: inout [String: BackendOptions]) throws(ConfigurationError) -> [BackendURL] {
        guard let sequence = node.sequence else { throw shape(node, "backends", "backends must be a list of URLs") }
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
                    case "weight": weight = try self.value(value, "backends.weight", atLeast: 0)
                    case "state":
                        let name = try string(value, "backends.state")
                        guard let parsed = AdminState(rawValue: name) else {
                            throw refused(value, "backends.state",
                                          SettingProblem(reason: .mustBe("enabled, drained or disabled"), given: name))
                        }
                        state = parsed
                    case "backup":
                        let flag = try string(value, "backends.backup")
                        guard let backup = Bool(flag) else {
                            throw refused(value, "backends.backup", SettingProblem(reason: .mustBe("true or false"), given: flag))
                        }
                        extra.backup = backup
                    // A backend's own limits are refused as the global settings of the same name are.
                    case "max_connections":
                        extra.maxConnections = try self.value(value, "backends.max_connections", atLeast: 1)
                    case "connect_timeout":
                        extra.connectTimeout = try self.value(value, "backends.connect_timeout", atLeast: .milliseconds(1))
                    case "response_timeout":
                        extra.responseTimeout = try self.value(value, "backends.response_timeout", atLeast: .milliseconds(1))
                    case "tls_verify":
                        let flag = try string(value, "backends.tls_verify")
                        guard let verify = Bool(flag) else {
                            throw refused(value, "backends.tls_verify", SettingProblem(reason: .mustBe("true or false"), given: flag))
                        }
                        extra.tlsVerify = verify
                    default:
                        let key = "backends.\(keyNode.string ?? "")"
                        throw ConfigurationError(kind: .unknownSetting, file: path, line: line(keyNode), key: key,
                                                 message: "unknown setting '\(key)'")
                    }
                }
            }
            guard let text else { throw shape(item, "backends", "each backend must be a URL or a mapping with url") }
            let url: BackendURL
            do {
                url = try BackendURL(parsing: text)
            } catch {
                throw refused(item, "backends", SettingProblem(reason: .sentence(error.description), given: text))
            }
            guard extra.tlsVerify != false || url.isTLS else {
                throw refused(item, "backends.tls_verify", SettingProblem(
                    reason: .sentence("tls_verify is for https:// backends; \(url) is plain HTTP"), given: "false"))
            }
            guard !result.contains(url) else {
                throw refused(item, "backends", SettingProblem(reason: .sentence(BackendURL.listedTwice(url)), given: text))
            }
            result.append(url)
            if weight != nil || state != nil { declarations[url.text] = (weight, state) }
            if extra != BackendOptions() { options[url.text] = extra }
        }
        return result
    }

    /// `tls`: a list of mappings `{cert, key}`, file paths both.
    private func certificates(_ node: Node) throws(ConfigurationError) -> [CertificatePair] {
        guard let sequence = node.sequence else { throw shape(node, "tls", "tls must be a list of {cert, key}") }
        var result: [CertificatePair] = []
        for item in sequence {
            guard let mapping = item.mapping else { throw shape(item, "tls", "each tls item must be a mapping {cert, key}") }
            var pair = CertificatePair(certificate: "", key: "")
            for (keyNode, value) in mapping {
                switch keyNode.string ?? "" {
                case "cert": pair.certificate = try string(value, "tls.cert")
                case "key": pair.key = try string(value, "tls.key")
                default:
                    let key = "tls.\(keyNode.string ?? "")"
                    throw ConfigurationError(kind: .unknownSetting, file: path, line: line(keyNode), key: key,
                                             message: "unknown setting '\(key)'")
                }
            }
            guard !pair.certificate.isEmpty, !pair.key.isEmpty else {
                throw shape(item, "tls", "each tls item needs both cert and key")
            }
            result.append(pair)
        }
        return result
    }

    private func string(_ node: Node, _ key: String) throws(ConfigurationError) -> String {
        guard let scalar = node.scalar else { throw shape(node, key, "\(key) must be a single value") }
        return scalar.string
    }

    /// A backend field's value read by the setting of the same kind, so it is refused as the
    /// global setting would refuse it.
    private func value<Value: BoundedSettingValue>(_ node: Node, _ key: String, atLeast minimum: Value)
        throws(ConfigurationError) -> Value {
        let text = try string(node, key)
        do {
            return try Value(settingText: text, atLeast: minimum)
        } catch {
            throw refused(node, key, error)
        }
    }

    private func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    private func refused(_ node: Node, _ key: String, _ problem: SettingProblem) -> ConfigurationError {
        ConfigurationError(file: path, line: line(node), key: key, problem: problem)
    }

    private func shape(_ node: Node, _ key: String?, _ message: String) -> ConfigurationError {
        ConfigurationError(kind: .badShape, file: path, line: line(node), key: key, message: message)
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
