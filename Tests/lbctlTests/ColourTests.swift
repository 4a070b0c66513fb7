import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Colour only for a person at a terminal who has not set `NO_COLOR` (https://no-color.org: set
/// and not empty), proved on the real binary writing to a pseudo-terminal, a file and a pipe.
@Suite(.serialized) struct ColourTests {
    static let escape = "\u{1B}["

    private func runOnTerminal(_ folder: TestFolder, _ arguments: [String], environment: [String: String]) throws -> String {
        try PseudoTerminal.run(folder, arguments, environment: environment)
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
