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

/// Colour only for a person at a terminal who has not set `NO_COLOR` (https://no-color.org: set
/// and not empty), proved on the real binary writing to a pseudo-terminal, a file and a pipe.
@Suite(.serialized) struct ColourTests {
    static let escape = "\u{1B}["

    /// Runs `lbctl arguments` with its standard output on a new pseudo-terminal, and returns what
    /// the terminal received.
    private func runOnTerminal(_ folder: TestFolder, _ arguments: [String], environment: [String: String]) throws -> String {
        let pty = try #require(PseudoTerminalCalls())
        let primary = pty.open(O_RDWR | O_NOCTTY)
        try #require(primary >= 0)
        defer { close(primary) }
        try #require(pty.grant(primary) == 0 && pty.unlock(primary) == 0)
        let name = try #require(pty.name(primary).map { String(cString: $0) })
        let secondary = open(name, O_RDWR | O_NOCTTY)
        try #require(secondary >= 0)
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
        #expect(process.terminationStatus == 0)
        try terminal.close()
        return String(decoding: output, as: UTF8.self)
    }

    @Test func colourIsOnForATerminalAndOffWithNoColourOrWithoutATerminal() throws {
        let folder = try TestFolder()
        let path = folder.path("lb.sqlite3")
        _ = try EventsCommandTests.seed(path)
        let arguments = ["--db", path, "events", "--limit", "5"]

        let terminal = try runOnTerminal(folder, arguments, environment: [:])
        #expect(terminal.contains("connection refused"), "\(terminal)")
        #expect(terminal.contains(Self.escape), "a terminal gets colour")

        // NO_COLOR set and not empty turns it off, whatever its value.
        for value in ["1", "0", "false"] {
            let plain = try runOnTerminal(folder, arguments, environment: ["NO_COLOR": value])
            #expect(plain.contains("connection refused"))
            #expect(!plain.contains(Self.escape), "NO_COLOR=\(value)")
        }
        // Set but empty is as if unset (no-color.org).
        #expect(try runOnTerminal(folder, arguments, environment: ["NO_COLOR": ""]).contains(Self.escape))

        // A file or a pipe is no terminal: no colour, NO_COLOR or not.
        let file = try folder.lbctl.run(arguments)
        #expect(file.status == 0)
        #expect(file.standardOutput.contains("connection refused"))
        #expect(!file.standardOutput.contains(Self.escape))
    }
}
