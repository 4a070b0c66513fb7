import ArgumentParser

/// A setting's value as an operator writes it, on the command line or in the config file: one
/// parser for both, so the two refuse the same text for the same reason.
protocol SettingValue: Sendable, Equatable {
    /// The value's placeholder in `--help` (`duration`, `host:port`).
    static var placeholder: String { get }
    /// Reads `text`; throws what the setting expects when it is not a valid value.
    init(settingText text: String) throws(SettingProblem)
    /// The value written as it would be typed, for help, the reference and reload warnings.
    var settingText: String { get }
}

/// A value with a lower bound that depends on the setting (a timeout of at least 1 ms, at least
/// 16 bytes of request line).
protocol BoundedSettingValue: SettingValue, Comparable {
    /// Reads `text` and refuses a value below `minimum`, saying so.
    init(settingText text: String, atLeast minimum: Self) throws(SettingProblem)
}

/// A setting value of the project's own that is also a flag value (`ExpressibleByArgument`) and a
/// `Decodable` string, both read by its one `SettingValue` parser. (`Int` and NIO's `TimeAmount`
/// are `SettingValue`s only: their other conformances are their owners' to give.)
protocol ArgumentSettingValue: SettingValue, ExpressibleByArgument, Decodable {}

extension ArgumentSettingValue {
    /// ArgumentParser's entry: the same parser; a refused value is nil (the flags of `lbserver`
    /// read through their `Setting`, whose transform names the flag and the reason).
    init?(argument: String) {
        do { try self.init(settingText: argument) } catch { return nil }
    }

    var defaultValueDescription: String { settingText }
}

extension SettingValue {
    /// A single string decoded with the same parser, so a `Decodable` configuration refuses what
    /// a flag refuses.
    static func decoded(from decoder: any Decoder) throws -> Self {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            return try Self(settingText: text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: error.message(subject: "value", isFlag: false))
        }
    }
}

extension ArgumentSettingValue {
    init(from decoder: any Decoder) throws {
        self = try Self.decoded(from: decoder)
    }
}
