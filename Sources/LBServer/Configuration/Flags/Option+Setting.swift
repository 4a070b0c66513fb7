import ArgumentParser

extension Option {
    /// The flag of a `Settings` row: its name, help and default from the table, its value read by
    /// the setting's parser, so a refused value names the flag and the same reason the file gives.
    init<Wrapped>(_ setting: Setting<Wrapped>) where Value == Wrapped? {
        self.init(name: setting.flagName, help: setting.flagHelp, transform: setting.flagValue)
    }

    /// The repeatable flag of a `Settings` row whose value is a list: each occurrence one item.
    init<Element>(_ setting: Setting<[Element]>) where Value == [Element] {
        self.init(wrappedValue: [], name: setting.flagName, parsing: .singleValue, help: setting.flagHelp,
                  transform: { text throws(ConfigurationError) in try setting.flagValue(text)[0] })
    }
}
