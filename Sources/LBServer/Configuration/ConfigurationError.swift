/// A configuration `lbserver` refuses: a flag's value, or a config file that cannot be read or
/// says something wrong. Its description is the one line a user reads (`FILE:LINE: message` for
/// the file); exit status 64 for a flag, 65 for the file (at start as for `--check-config`).
struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        /// A value its setting refuses, for the reason given (the same for a flag and a key).
        case badValue(SettingProblem)
        /// A key no setting has.
        case unknownSetting
        /// A key whose value has the wrong shape (a list where one value goes), or a file that is
        /// not a mapping of settings.
        case badShape
        /// The file cannot be read.
        case unreadableFile
        /// The file is not YAML.
        case notYAML
    }

    let kind: Kind
    /// The config file; nil for a flag.
    let file: String?
    /// The line in `file` (1-based); nil for a flag or the file as a whole.
    let line: Int?
    /// The flag (`--health-interval`) or the key (`health.interval`); nil for the file as a whole.
    let key: String?
    /// What is wrong, without the file and line.
    let message: String

    init(kind: Kind, file: String?, line: Int?, key: String?, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// A flag's value refused.
    init(flag: String, problem: SettingProblem) {
        self.init(kind: .badValue(problem), file: nil, line: nil, key: flag,
                  message: problem.message(subject: flag, isFlag: true))
    }

    /// A config file value refused, at `line` of `file`.
    init(file: String, line: Int, key: String, problem: SettingProblem) {
        self.init(kind: .badValue(problem), file: file, line: line, key: key,
                  message: problem.message(subject: key, isFlag: false))
    }

    /// The problem with the value, when a value was refused.
    var problem: SettingProblem? {
        if case .badValue(let problem) = kind { return problem }
        return nil
    }

    var description: String {
        switch (file, line) {
        case (let file?, let line?): "\(file):\(line): \(message)"
        case (let file?, nil) where kind == .notYAML: "\(file): \(message)"
        default: message
        }
    }
}
