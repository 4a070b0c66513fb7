/// `--algorithm` and `algorithm:`: one of the algorithms' names.
extension BalancingAlgorithm: ArgumentSettingValue {
    static let placeholder = "algorithm"

    init(settingText text: String) throws(SettingProblem) {
        guard let algorithm = Self(rawValue: text) else { throw SettingProblem(reason: .mustBe("one of \(Self.choices)"), given: text) }
        self = algorithm
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
