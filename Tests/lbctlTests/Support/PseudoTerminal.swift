import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C library's pseudo-terminal calls, which the Glibc module does not import (they need
/// `_XOPEN_SOURCE`): looked up by name in the process's own libc.
private struct PseudoTerminalCalls {
    let open: @convention(c) (Int32) -> Int32
    let grant: @convention(c) (Int32) -> Int32
    let unlock: @convention(c) (Int32) -> Int32
    let name: @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?

    init?() {
        let process = dlopen(nil, RTLD_NOW)
        guard let open = dlsym(process, "posix_openpt"), let grant = dlsym(process, "grantpt"),
              let unlock = dlsym(process, "unlockpt"), let name = dlsym(process, "ptsname") else { return nil }
        self.open = unsafeBitCast(open, to: (@convention(c) (Int32) -> Int32).self)
        self.grant = unsafeBitCast(grant, to: (@convention(c) (Int32) -> Int32).self)
        self.unlock = unsafeBitCast(unlock, to: (@convention(c) (Int32) -> Int32).self)
        self.name = unsafeBitCast(name, to: (@convention(c) (Int32) -> UnsafeMutablePointer<CChar>?).self)
    }
}

/// Runs the real `lbctl` with its standard output on a new pseudo-terminal, as a person at a
/// terminal would: it sees a TTY (colour, fitted tables) of the size given.
enum PseudoTerminal {
    /// What the terminal received from `lbctl arguments`, with the terminal's `\r\n` read as `\n`;
    /// `columns` sets the terminal's width (`TIOCSWINSZ`), nil leaves it unset (0, as a new one is).
    static func run(_ folder: TestFolder, _ arguments: [String], environment: [String: String] = [:],
                    columns: Int? = nil) throws -> String {
        let pty = try #require(PseudoTerminalCalls())
        let primary = pty.open(O_RDWR | O_NOCTTY)
        try #require(primary >= 0)
        defer { close(primary) }
        try #require(pty.grant(primary) == 0 && pty.unlock(primary) == 0)
        let name = try #require(pty.name(primary).map { String(cString: $0) })
        let secondary = open(name, O_RDWR | O_NOCTTY)
        try #require(secondary >= 0)
        if let columns {
            var size = winsize(ws_row: 24, ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
            try #require(ioctl(secondary, UInt(TIOCSWINSZ), &size) == 0)
        }
        let terminal = FileHandle(fileDescriptor: secondary, closeOnDealloc: true)

        let process = try folder.lbctl.prepare(arguments, environment: environment)
        process.standardOutput = terminal
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Read while it runs, so a full terminal buffer never blocks it.
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .seconds(30)
        var finished = false
        while ContinuousClock.now < deadline {
            var ready = pollfd(fd: primary, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 20) > 0 {
                let count = read(primary, &buffer, buffer.count)
                if count > 0 { output += buffer[0..<count]; continue }
            }
            if finished { break }
            if !process.isRunning { finished = true }  // One more pass drains what is left.
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "lbctl \(arguments)")
        try terminal.close()
        return String(decoding: output, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
    }
}
