import ArgumentParser
import LBStore

/// `lbctl set URL SETTING=VALUE ...`: changes a backend's own settings (backup mark, limits,
/// timeouts, TLS verification) in one transaction, each change recorded as an `admin_change`.
struct SetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set a backend's own settings: backup, max_connections, connect_timeout, response_timeout, tls_verify.",
        discussion: """
            Each setting is NAME=VALUE: backup=true|false (used only when no primary can take a \
            request), max_connections=N|none (requests in flight to it at once), \
            connect_timeout=DURATION|none and response_timeout=DURATION|none (its own values of \
            --connect-timeout and --response-timeout; none: the daemon's), tls_verify=true|false \
            (https:// backends only). A change holds until the configuration changes that same \
            setting; a running lbserver applies it within a second.
            """)

    @OptionGroup var database: DatabaseOptions
    @Argument(help: ArgumentHelp("The backend's URL.", valueName: "url")) var url: String
    @Argument(help: ArgumentHelp("One or more settings, e.g. backup=true max_connections=100 connect_timeout=500ms.",
                                 valueName: "setting=value"))
    var assignments: [String]

    func validate() throws {
        guard !assignments.isEmpty else { throw ValidationError("name at least one setting, e.g. backup=true") }
    }

    func run() throws {
        let values = try Self.parse(assignments)
        try BackendMutation.apply(to: url, database: database) { backend in
            values.allSatisfy { backend.settings[$0.0] == $0.1 }
                ? "\(backend.url) already has \(Self.describe(values)); nothing changed" : nil
        } change: { store, backend, actor, command in
            let changes = try store.setSettings(values, url: backend.url, actor: actor, command: command)
            return "\(backend.url): " + changes.map { change in
                "\(change.setting.rawValue) \(change.setting.text(change.from)) -> \(change.setting.text(change.to))"
            }.joined(separator: ", ")
        }
    }

    /// Reads `NAME=VALUE` words; a setting named twice takes its last value. Throws exit 65 for an
    /// unknown name or a value the setting cannot take.
    static func parse(_ words: [String]) throws(CLIError) -> [(BackendSetting, Int64?)] {
        var values: [(BackendSetting, Int64?)] = []
        for word in words {
            guard let equals = word.firstIndex(of: "=") else {
                throw .malformed("'\(word)' is not SETTING=VALUE (e.g. backup=true)")
            }
            let name = String(word[..<equals]).lowercased()
            guard let setting = BackendSetting(rawValue: name) else {
                throw .malformed("unknown setting '\(name)'; the settings are "
                                 + BackendSetting.allCases.map(\.rawValue).joined(separator: ", "))
            }
            do {
                let value = try setting.value(parsing: String(word[word.index(after: equals)...]))
                values.removeAll { $0.0 == setting }
                values.append((setting, value))
            } catch let error as StoreError {
                throw .malformed(error.message)
            } catch {
                throw .malformed("\(error)")
            }
        }
        return values
    }

    private static func describe(_ values: [(BackendSetting, Int64?)]) -> String {
        values.map { "\($0.0.rawValue)=\($0.0.text($0.1))" }.joined(separator: " ")
    }
}
