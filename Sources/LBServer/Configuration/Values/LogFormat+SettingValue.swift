/// `--log-format` and `log_format:`: `keyvalue` or `json`.
extension LogFormat: ArgumentSettingValue {
    static let placeholder = "format"

    init(settingText text: String) throws(SettingProblem) {
        guard let format = Self(rawValue: text) else { throw SettingProblem(reason: .mustBe(Self.choices), given: text) }
        self = format
    }

    var settingText: String { rawValue }

    // Written out: the raw-value defaults of ArgumentParser and Codable would compete with the
    // setting's own.
    init?(argument: String) {
        guard let value = try? Self(settingText: argument) else { return nil }
        self = value
    }

    init(from decoder: any Decoder) throws {
        self = try Self.decoded(from: decoder)
    }
}
