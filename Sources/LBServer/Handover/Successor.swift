import Foundation

/// How the daemon starts its own successor for `lbserver reload` when the new configuration needs
/// a new process (a changed listen address, thread count, database) or a new binary was installed
/// (`--upgrade`): the program now at the path this daemon was started from, with the same
/// arguments and `--replace`, in the same environment and working directory, writing to the same
/// standard output and error. Started by the daemon, it stays in the daemon's service (systemd's
/// cgroup), and systemd follows it as the main process once it takes over (`MAINPID`).
struct Successor: Sendable {
    /// The executable, resolved when this daemon started: a binary installed at that path since is
    /// the one started.
    let executable: String
    let arguments: [String]

    /// From this process's command line; nil when its program cannot be found again.
    static func fromCommandLine(_ commandLine: [String] = CommandLine.arguments,
                                workingDirectory: String = FileManager.default.currentDirectoryPath) -> Successor? {
        guard let program = commandLine.first else { return nil }
        let executable: String
        if program.contains("/") {
            executable = program.hasPrefix("/") ? program : workingDirectory + "/" + program
        } else {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            guard let found = path.split(separator: ":").map({ "\($0)/\(program)" })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
            executable = found
        }
        var arguments = Array(commandLine.dropFirst())
        if !arguments.contains("--replace") { arguments.append("--replace") }
        return Successor(executable: executable, arguments: arguments)
    }

    /// Starts it; throws when it cannot be started. The caller learns that it took over from the
    /// control socket's `release`, or that it failed from `whenExited`.
    func start(whenExited: @escaping @Sendable (Int32) -> Void) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.terminationHandler = { whenExited($0.terminationStatus) }
        try process.run()
        return process.processIdentifier
    }
}
