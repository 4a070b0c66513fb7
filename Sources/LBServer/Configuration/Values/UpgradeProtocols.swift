/// `--upgrade-protocols` and `upgrade_protocols:`: the protocols a client may switch to through
/// the proxy, read by `UpgradePolicy`'s rules (lower-cased tokens, never `h2c`; `none` or empty
/// for no upgrades at all).
struct UpgradeProtocols: ArgumentSettingValue {
    /// Lower-cased protocol names, in the order written, without repeats.
    var names: [String]

    static let placeholder = "protocols"

    init(names: [String]) {
        self.names = names
    }

    init(settingText text: String) throws(SettingProblem) {
        switch UpgradePolicy.allowedList(parsing: text) {
        case .success(let names): self.names = names
        case .failure(let problem): throw SettingProblem(reason: .explained(problem.description), given: text)
        }
    }

    var settingText: String { names.isEmpty ? "none" : names.joined(separator: ",") }
}
