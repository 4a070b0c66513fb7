import ArgumentParser

/// How a read command prints: an aligned table (the default), JSON with a stable shape, or CSV.
enum OutputFormat: String, EnumerableFlag {
    case table
    case json
    case csv

    static func help(for value: OutputFormat) -> ArgumentHelp? {
        switch value {
        case .table: return "Print an aligned table (the default)."
        case .json: return "Print JSON (the shapes are documented in the README and stable)."
        case .csv: return "Print CSV with a header line."
        }
    }
}
