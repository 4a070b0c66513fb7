/// Why a setting refused a value, the same whichever way the value came (a flag or the config
/// file): what the setting expects and what it was given. `ConfigurationError` adds where the
/// value came from.
struct SettingProblem: Error, Equatable, Sendable {
    /// How the reason reads after the setting's name.
    enum Reason: Equatable, Sendable {
        /// "`--x` must be `what`, not 'given'".
        case mustBe(String)
        /// "`--x` wants `what`, not 'given'".
        case wants(String)
        /// A duration: "`x` must be `what`" in the file and "`--x` wants `what`" on the command
        /// line, as each has always said.
        case duration(String)
        /// A rule the value broke, said after the name: "`x` must start with /".
        case rule(String)
        /// A reason that stands after "`x`: ": "upgrade_protocols: h2c upgrades are never tunnelled".
        case explained(String)
        /// A sentence that names the value itself and needs no setting name ("backend URL 'ftp://x'
        /// uses scheme 'ftp'; only http and https are supported").
        case sentence(String)
    }

    var reason: Reason
    /// The text refused, quoted at the end of `mustBe`, `wants` and `duration` reasons.
    var given: String

    /// The one line a user reads: `subject` is the flag (`--health-interval`) or the file's key
    /// (`health.interval`).
    func message(subject: String, isFlag: Bool) -> String {
        switch reason {
        case .mustBe(let what): "\(subject) must be \(what), not '\(given)'"
        case .wants(let what): "\(subject) wants \(what), not '\(given)'"
        case .duration(let what): "\(subject) \(isFlag ? "wants" : "must be") \(what), not '\(given)'"
        case .rule(let rule): "\(subject) \(rule)"
        case .explained(let text): "\(subject): \(text)"
        case .sentence(let text): text
        }
    }
}
