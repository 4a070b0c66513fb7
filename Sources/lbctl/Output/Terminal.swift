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
