import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one run of the real `lbctl` binary did.
struct LBCtlResult: Sendable {
    var status: Int32
    var standardOutput: String
    var standardError: String

    /// Standard error without its final newline, split in lines.
    var errorLines: [String] { standardError.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

/// Runs the `lbctl` executable that SwiftPM built next to this test binary, in a folder of the
/// test's own, with `LB_DB` and `NO_COLOR` removed from the environment and `TZ=UTC` (text shows
/// local time: the machine's zone would change it) unless a test sets them.
struct LBCtlRunner {
    var folder: TestFolder

    /// `lbctl` in the same build products folder as the running test binary (or `$LBCTL_BINARY`).
    static let binary: URL? = {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["LBCTL_BINARY"] { return URL(fileURLWithPath: override) }
        var folders = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent(),
                       Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        // macOS runs tests from a .xctest bundle inside the products folder.
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return folders.map { $0.appendingPathComponent("lbctl") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// Runs `lbctl arguments` to completion (killed after `timeout`) and collects its output.
    func run(_ arguments: [String], environment: [String: String] = [:],
             timeout: Duration = .seconds(60)) throws -> LBCtlResult {
        let outputURL = folder.url.appendingPathComponent("stdout-\(UUID().uuidString)")
        let errorURL = folder.url.appendingPathComponent("stderr-\(UUID().uuidString)")
        let process = try start(arguments, environment: environment, standardOutput: outputURL, standardError: errorURL)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("lbctl \(arguments) did not finish within \(timeout)")
        }
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
        }
        return LBCtlResult(status: process.terminationStatus,
                           standardOutput: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
                           standardError: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
    }

    /// Starts `lbctl arguments` in the background with its output going to files; the caller
    /// stops it by pid.
    func start(_ arguments: [String], environment: [String: String] = [:], standardOutput: URL,
               standardError: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: standardOutput.path, contents: nil)
        _ = FileManager.default.createFile(atPath: standardError.path, contents: nil)
        let process = try prepare(arguments, environment: environment)
        process.standardOutput = try FileHandle(forWritingTo: standardOutput)
        process.standardError = try FileHandle(forWritingTo: standardError)
        try process.run()
        return process
    }

    /// `lbctl arguments`, not yet started, in the folder with the environment described above and
    /// no standard input; the caller sets its output and runs it.
    func prepare(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let binary = try #require(Self.binary, "lbctl was not built next to the test binary")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = folder.url
        var merged = ProcessInfo.processInfo.environment
        merged["LB_DB"] = nil
        merged["NO_COLOR"] = nil
        merged["COLUMNS"] = nil
        merged["TZ"] = "UTC"
        merged.merge(environment) { $1 }
        process.environment = merged
        process.standardInput = FileHandle.nullDevice
        return process
    }
}
