extension ServerConfiguration {
    /// The config keys of the settings that differ between `old` and `new` and that a running
    /// daemon cannot take, in the table's order: the reload's "take effect at the next restart"
    /// warning. A setting without a key is a flag, and a reload reads the same flags again (`--port`
    /// shows as `listen`, whose port it sets).
    static func settingsNeedingRestart(from old: ServerConfiguration, to new: ServerConfiguration) -> [String] {
        Settings.all.compactMap { setting in
            setting.reload == .atRestart && setting.differs(old, new) ? setting.key : nil
        }
    }

    /// The config keys of the settings that differ between `old` and `new` and that a reload
    /// applies in place, in the table's order.
    static func settingsApplied(from old: ServerConfiguration, to new: ServerConfiguration) -> [String] {
        Settings.all.compactMap { setting in
            setting.reload == .applied && setting.differs(old, new) ? setting.key : nil
        }
    }
}
