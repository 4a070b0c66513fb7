import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output as `lbctl` uses it: whole chunks written at once, and colour only for a person
/// at a terminal who has not set `NO_COLOR`.
enum Terminal {
    /// True when stdout is a TTY and `NO_COLOR` is absent or empty (https://no-color.org).
    static var wantsColour: Bool {
        if let noColour = ProcessInfo.processInfo.environment["NO_COLOR"], !noColour.isEmpty { return false }
        return isatty(STDOUT_FILENO) == 1
    }

    /// The width tables fit, nil for no limit: only a terminal has one (a pipe or a file gets every
    /// line in full, as `systemctl` and `journalctl` do and as `kubectl` always does, so what a
    /// script reads does not depend on the window it ran in). It is `COLUMNS` when that is a
    /// positive number, else the terminal's own width (`TIOCGWINSZ`), else 80.
    static var tableWidth: Int? {
        guard isatty(STDOUT_FILENO) == 1 else { return nil }
        return width(columnsVariable: ProcessInfo.processInfo.environment["COLUMNS"], terminalColumns: terminalColumns)
    }

    /// The rule of `tableWidth` for a terminal, with `COLUMNS` and the terminal's width given.
    static func width(columnsVariable: String?, terminalColumns: Int?) -> Int {
        if let text = columnsVariable, let columns = Int(text.trimmingSpaces), columns > 0 { return columns }
        if let terminalColumns, terminalColumns > 0 { return terminalColumns }
        return 80
    }

    /// The terminal's width in columns, nil when it does not say (a pseudo-terminal nobody sized).
    private static var terminalColumns: Int? {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// Writes `text` to stdout at once (no buffer to flush), so a follower sees each batch as it
    /// is printed.
    static func write(_ text: String) {
        writeAll(text, to: STDOUT_FILENO)
    }

    /// Writes one line to standard error.
    static func writeError(_ line: String) {
        writeAll(line.hasSuffix("\n") ? line : line + "\n", to: STDERR_FILENO)
    }

    private static func writeAll(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                #else
                let written = Darwin.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                #endif
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // A closed pipe or full disk: nothing sensible left to say it on.
                }
                offset += written
            }
        }
    }
}
