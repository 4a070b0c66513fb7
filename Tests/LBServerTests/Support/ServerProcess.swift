import Foundation
import NIOConcurrencyHelpers
import Testing

/// A real `lbserver` (or `lbctl`) process started from the build folder, killed by its pid.
final class ServerProcess: @unchecked Sendable {
    // @unchecked Sendable: `output` is guarded by `lock`; Process is used from the test thread.
    let process = Process()
    private let lock = NIOLock()
    private var output = ""
    let stderrPath: String
    private(set) var port = 0
    /// The admin listener's port, when lbserver was started with `--admin`.
    private(set) var adminPort = 0
    private var logChecked = false

    /// The folder holding the built products (`lbserver`, `lbctl`), found beside the test binary.
    static var productsFolder: URL {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        // The test binary may sit inside a bundle folder (`*.xctest/...`).
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("lbserver").path),
              folder.path != "/" {
            folder = folder.deletingLastPathComponent()
        }
        return folder
    }

    /// Starts `lbserver` with `arguments`; `--listen 127.0.0.1:0` is added unless given. With a
    /// `wrapper` (a program and its arguments), that program is started with lbserver's path and
    /// arguments after its own, and is expected to `exec` lbserver in the same process. With an
    /// `executable`, that copy of lbserver runs instead of the build folder's; `environment` adds
    /// to the test's own.
    init(lbserver arguments: [String], folder: URL, wrapper: [String] = [], executable: String? = nil,
         environment: [String: String] = [:]) throws {
        var arguments = arguments
        if !arguments.contains("--listen") && !arguments.contains("--port") {
            arguments += ["--listen", "127.0.0.1:0"]
        }
        let lbserver = executable.map { URL(fileURLWithPath: $0) } ?? Self.productsFolder.appendingPathComponent("lbserver")
        if let program = wrapper.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = Array(wrapper.dropFirst()) + [lbserver.path] + arguments
        } else {
            process.executableURL = lbserver
            process.arguments = arguments
        }
        process.currentDirectoryURL = folder
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        stderrPath = folder.appendingPathComponent("lbserver-\(UUID().uuidString.prefix(8)).log").path
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        let pipe = Pipe()
        process.standardOutput = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.output += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    /// Waits for the "listening on" line and returns the bound port.
    @discardableResult
    func waitUntilListening(timeout: Duration = .seconds(20)) throws -> Int {
        let found = waitUntil(timeout: timeout) {
            lock.withLock { output.contains("lbserver listening on") } || !process.isRunning
        }
        let text = lock.withLock { output }
        if let adminLine = text.split(separator: "\n").first(where: { $0.contains("admin listening on") }),
           let adminPort = adminLine.split(separator: ":").last.flatMap({ Int($0) }) {
            self.adminPort = adminPort
        }
        guard found, let line = text.split(separator: "\n").first(where: { $0.contains("lbserver listening on") }),
              let portText = line.split(separator: ":").last, let port = Int(portText) else {
            throw TestClientError(description: "lbserver did not start: \(stderr)")
        }
        self.port = port
        return port
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Everything the process printed on standard output so far.
    var stdout: String { lock.withLock { output } }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its status, or nil if it is still running.
    func waitForExit(timeout: Duration = .seconds(20)) -> Int32? {
        guard waitUntil(timeout: timeout, { !process.isRunning }) else { return nil }
        return process.terminationStatus
    }

    /// Kills the process (SIGKILL) if it still runs; for test cleanup. A sanitizer report in its
    /// log fails the test that ran it, so a ThreadSanitizer run checks the daemon too.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = waitForExit(timeout: .seconds(5))
        }
        guard !logChecked else { return }
        logChecked = true
        let log = stderr
        if log.contains("WARNING: ThreadSanitizer") || log.contains("ERROR: AddressSanitizer") {
            Issue.record("lbserver reported a sanitizer finding:\n\(log.suffix(8_000))")
        }
    }

    deinit { stop() }
}

/// Runs a built product to completion and returns its exit status, stdout and stderr.
func runProduct(_ name: String, _ arguments: [String], folder: URL, timeout: Duration = .seconds(30)) throws
    -> (status: Int32, stdout: String, stderr: String) {
    try runTool(ServerProcess.productsFolder.appendingPathComponent(name).path, arguments, folder: folder,
                timeout: timeout)
}

/// Runs the program at `path` to completion and returns its exit status, stdout and stderr.
func runTool(_ path: String, _ arguments: [String], folder: URL, timeout: Duration = .seconds(30)) throws
    -> (status: Int32, stdout: String, stderr: String) {
    let name = URL(fileURLWithPath: path).lastPathComponent
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.currentDirectoryURL = folder
    let out = folder.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).out")
    let err = folder.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    guard waitUntil(timeout: timeout, { !process.isRunning }) else {
        kill(process.processIdentifier, SIGKILL)
        throw TestClientError(description: "\(name) did not finish in time")
    }
    return (process.terminationStatus,
            (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}

/// A fresh folder under the system's temporary directory, removed when released.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lbserver-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    var database: String { url.appendingPathComponent("lb.sqlite3").path }
}
