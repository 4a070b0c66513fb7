import ArgumentParser

extension Option {
    /// The flag of a `Settings` row: its name, help and default from the table, its value read by
    /// the setting's parser, so a refused value names the flag and the same reason the file gives.
    init<Wrapped>(_ setting: Setting<Wrapped>) where Value == Wrapped? {
        self.init(name: setting.flagName, help: setting.flagHelp, transform: setting.flagValue)
    }
}
