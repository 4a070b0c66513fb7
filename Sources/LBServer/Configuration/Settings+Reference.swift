extension Settings {
    /// The reference table of docs/configuration.md, written from the table itself so the document
    /// cannot list a setting, a default or a reload behaviour the code does not have.
    static var markdownReference: String {
        var lines = [
            "| Flag | Config key | Default | On SIGHUP | What it does |",
            "| --- | --- | --- | --- | --- |",
        ]
        for setting in all where !setting.hidden {
            let flag = setting.flag.map { "`--\($0)`" } ?? "none: \(setting.onlyOneWay ?? "")"
            let key = setting.key.map { "`\($0)`" } ?? "none: \(setting.onlyOneWay ?? "")"
            lines.append("| \(flag) | \(key) | \(setting.defaultText) | \(setting.reload.rawValue) | \(setting.help) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
