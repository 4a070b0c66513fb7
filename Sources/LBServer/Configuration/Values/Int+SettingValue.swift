/// A count or a size in bytes: a whole number, with each setting's own minimum.
extension Int: BoundedSettingValue {
    static let placeholder = "n"

    init(settingText text: String) throws(SettingProblem) {
        try self.init(settingText: text, atLeast: .min)
    }

    init(settingText text: String, atLeast minimum: Int) throws(SettingProblem) {
        let expected = minimum == .min ? "a whole number" : "a whole number of at least \(minimum)"
        guard let value = Int(text), value >= minimum else {
            throw SettingProblem(reason: .mustBe(expected), given: text)
        }
        self = value
    }

    var settingText: String { String(self) }
}
