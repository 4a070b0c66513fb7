import ArgumentParser

/// `--wide`, shared by every command that prints a table: on a terminal, tables fit its width
/// (URLs shortened, long text cut with `…`, the least needed columns left out); `--wide` prints
/// them in full, as a pipe or a file always gets them.
struct TableWidthOptions: ParsableArguments {
    @Flag(help: "Print tables in full (whole URLs and details, every column) even on a narrow terminal.")
    var wide = false

    init() {}

    /// How tables fit, for the help of the commands that print them.
    static let helpText = """
        On a terminal, tables fit its width (COLUMNS, else the terminal's): URLs shortened, long text \
        cut with …, the least needed columns left out; --wide prints them in full, as a pipe or a file \
        always gets them.
        """

    /// The width tables fit: the terminal's, or nil (no limit) with `--wide` or off a terminal.
    var width: Int? { wide ? nil : Terminal.tableWidth }
}
