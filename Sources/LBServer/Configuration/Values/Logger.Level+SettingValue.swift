import Logging

/// `--log-level` and `log_level:`: swift-log's level names.
extension Logger.Level: SettingValue {
    static let placeholder = "level"
    static let choices = allCases.map(\.rawValue).joined(separator: ", ")

    init(settingText text: String) throws(SettingProblem) {
        guard let level = Self(rawValue: text) else { throw SettingProblem(reason: .mustBe("one of \(Self.choices)"), given: text) }
        self = level
    }

    var settingText: String { rawValue }
}
