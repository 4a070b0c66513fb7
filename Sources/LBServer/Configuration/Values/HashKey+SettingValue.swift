/// `--hash-key` and `hash_key:`: `client-address`, `header:NAME` or `cookie:NAME`.
extension HashKey: ArgumentSettingValue {
    static let placeholder = "key"

    init(settingText text: String) throws(SettingProblem) {
        guard let key = Self(parsing: text) else { throw SettingProblem(reason: .mustBe(Self.forms), given: text) }
        self = key
    }

    var settingText: String { description }
}
