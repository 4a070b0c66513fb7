import ArgumentParser

/// Whether a running daemon takes a setting's new value on SIGHUP.
enum ReloadBehaviour: String, Sendable {
    /// Applied in place by the reload.
    case applied = "applied on reload"
    /// Named in the reload's warning; takes effect at the next restart.
    case atRestart = "at restart"
}

/// One setting of `lbserver`, in the one place it is described: its config-file key, its flag,
/// its help, how its value is read (the same parser for both), where the value lands in
/// `ServerConfiguration` (whose initial value is the default), and whether a reload applies it.
/// `Settings` is the table of them all.
struct Setting<Value: Sendable & Equatable>: Sendable {
    /// The config file's key, dotted when nested (`health.interval`); nil for a flag only.
    let key: String?
    /// The long flag without its dashes; nil for a config file key only.
    let flag: String?
    /// Why the setting has no key or no flag; set exactly when one of them is missing.
    let onlyOneWay: String?
    /// What it does, one sentence without its default.
    let help: String
    /// The default as a user reads it, where the value's own spelling would not say it well
    /// ("one per core"); nil to write the default value itself.
    let defaultNote: String?
    let reload: ReloadBehaviour
    /// The flag's placeholder in `--help`.
    let placeholder: String
    let hidden: Bool
    let parse: @Sendable (String) throws(SettingProblem) -> Value
    let format: @Sendable (Value) -> String
    let read: @Sendable (ServerConfiguration) -> Value
    let write: @Sendable (inout ServerConfiguration, Value) -> Void

    init(key: String?, flag: String?, onlyOneWay: String? = nil, help: String, defaultNote: String? = nil,
         reload: ReloadBehaviour = .atRestart, placeholder: String, hidden: Bool = false,
         parse: @escaping @Sendable (String) throws(SettingProblem) -> Value,
         format: @escaping @Sendable (Value) -> String,
         at keyPath: WritableKeyPath<ServerConfiguration, Value> & Sendable,
         write: (@Sendable (inout ServerConfiguration, Value) -> Void)? = nil) {
        self.init(key: key, flag: flag, onlyOneWay: onlyOneWay, help: help, defaultNote: defaultNote, reload: reload,
                  placeholder: placeholder, hidden: hidden, parse: parse, format: format,
                  read: { $0[keyPath: keyPath] }, write: write ?? { $0[keyPath: keyPath] = $1 })
    }

    /// A setting held in `ServerConfiguration` in another form than its value's (`OffOr<Address>`
    /// as an optional address).
    init(key: String?, flag: String?, onlyOneWay: String? = nil, help: String, defaultNote: String? = nil,
         reload: ReloadBehaviour = .atRestart, placeholder: String, hidden: Bool = false,
         parse: @escaping @Sendable (String) throws(SettingProblem) -> Value,
         format: @escaping @Sendable (Value) -> String,
         read: @escaping @Sendable (ServerConfiguration) -> Value,
         write: @escaping @Sendable (inout ServerConfiguration, Value) -> Void) {
        self.key = key
        self.flag = flag
        self.onlyOneWay = onlyOneWay
        self.help = help
        self.defaultNote = defaultNote
        self.reload = reload
        self.placeholder = placeholder
        self.hidden = hidden
        self.parse = parse
        self.format = format
        self.read = read
        self.write = write
    }

    /// The name a user knows it by: the key, else the flag.
    var name: String { key ?? "--\(flag ?? "")" }

    /// The default as `--help` and the reference write it.
    var defaultText: String { defaultNote ?? format(read(ServerConfiguration())) }

    // MARK: The command line

    /// The flag's name for `@Option(name:)`.
    var flagName: NameSpecification { .customLong(flag ?? "") }

    /// The flag's help: what it does and its default.
    var flagHelp: ArgumentHelp {
        ArgumentHelp("\(help) (default \(defaultText)).", valueName: placeholder, visibility: hidden ? .hidden : .default)
    }

    /// The flag's transform for `@Option`: the value, or the reason it is refused, naming the flag.
    @Sendable func flagValue(_ text: String) throws(ConfigurationError) -> Value {
        do {
            return try parse(text)
        } catch {
            throw ConfigurationError(flag: "--\(flag ?? "")", problem: error)
        }
    }

    /// Puts a flag's value, when it was given, into `configuration`.
    func apply(_ value: Value?, to configuration: inout ServerConfiguration) {
        if let value { write(&configuration, value) }
    }
}

/// What the table, the config file, the reference and the reload need of any setting.
protocol AnySetting: Sendable {
    var key: String? { get }
    var flag: String? { get }
    var onlyOneWay: String? { get }
    var help: String { get }
    var defaultText: String { get }
    var reload: ReloadBehaviour { get }
    var hidden: Bool { get }
    var name: String { get }
    /// Reads a flag's `text` as the flag's `@Option` transform does: the error a user reads.
    func readFlag(_ text: String) throws(ConfigurationError)
    /// Reads a config file's scalar `text` into `configuration`.
    func assign(_ text: String, to configuration: inout ServerConfiguration) throws(SettingProblem)
    /// Whether `old` and `new` hold different values of it.
    func differs(_ old: ServerConfiguration, _ new: ServerConfiguration) -> Bool
}

extension Setting: AnySetting {
    func readFlag(_ text: String) throws(ConfigurationError) {
        _ = try flagValue(text)
    }

    func assign(_ text: String, to configuration: inout ServerConfiguration) throws(SettingProblem) {
        write(&configuration, try parse(text))
    }

    func differs(_ old: ServerConfiguration, _ new: ServerConfiguration) -> Bool {
        read(old) != read(new)
    }
}

extension Setting where Value: SettingValue {
    /// A setting whose value type reads itself.
    init(key: String?, flag: String?, onlyOneWay: String? = nil, help: String, defaultNote: String? = nil,
         reload: ReloadBehaviour = .atRestart, hidden: Bool = false,
         at keyPath: WritableKeyPath<ServerConfiguration, Value> & Sendable) {
        self.init(key: key, flag: flag, onlyOneWay: onlyOneWay, help: help, defaultNote: defaultNote, reload: reload,
                  placeholder: Value.placeholder, hidden: hidden,
                  parse: { text throws(SettingProblem) in try Value(settingText: text) },
                  format: { $0.settingText }, at: keyPath)
    }
}

extension Setting where Value: BoundedSettingValue {
    /// A setting whose value may not be below `minimum`.
    init(key: String?, flag: String?, onlyOneWay: String? = nil, help: String, defaultNote: String? = nil,
         reload: ReloadBehaviour = .atRestart, atLeast minimum: Value,
         at keyPath: WritableKeyPath<ServerConfiguration, Value> & Sendable) {
        self.init(key: key, flag: flag, onlyOneWay: onlyOneWay, help: help, defaultNote: defaultNote, reload: reload,
                  placeholder: Value.placeholder,
                  parse: { text throws(SettingProblem) in try Value(settingText: text, atLeast: minimum) },
                  format: { $0.settingText }, at: keyPath)
    }
}
