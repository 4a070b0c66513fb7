import Foundation

/// Finds running `lbserver` daemons that were meant to use a database file but hold another one:
/// the file at the path was deleted, renamed or replaced under them, so what `lbctl` changes
/// there never reaches them. Read from `/proc` (Linux), for the processes this user may inspect.
enum RunningDaemonFiles {
    /// One daemon that does not use the file now at the path.
    struct Mismatch: Equatable {
        var pid: Int32
        /// What it holds instead, as its open file is named (`… (deleted)` when gone), or nil
        /// when it was started on the path and holds no file at it any more.
        var held: String?
    }

    /// The daemons that use another file than the one at `databasePath`: one holding an open file
    /// that was at that path (deleted or replaced since), or one started with `--db` naming that
    /// path that holds no file there.
    static func mismatches(databasePath: String, proc: String = "/proc") -> [Mismatch] {
        guard let current = identity(of: databasePath) else { return [] }
        let absolute = absolutePath(databasePath, relativeTo: FileManager.default.currentDirectoryPath)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return [] }
        var found: [Mismatch] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(),
                  let name = try? String(contentsOfFile: "\(proc)/\(entry)/comm", encoding: .utf8),
                  name.trimmingCharacters(in: .whitespacesAndNewlines) == "lbserver",
                  let fds = try? FileManager.default.contentsOfDirectory(atPath: "\(proc)/\(entry)/fd") else { continue }
            var holdsCurrent = false
            var heldInstead: String?
            for fd in fds {
                let link = "\(proc)/\(entry)/fd/\(fd)"
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
                      let held = identity(of: link) else { continue }
                if held == current {
                    holdsCurrent = true
                } else if target == absolute || target == absolute + " (deleted)" {
                    heldInstead = target
                }
            }
            guard !holdsCurrent else { continue }
            if let heldInstead {
                found.append(Mismatch(pid: pid, held: heldInstead))
            } else if startedOn(absolute, pid: entry, proc: proc) {
                found.append(Mismatch(pid: pid, held: nil))
            }
        }
        return found.sorted { $0.pid < $1.pid }
    }

    /// The warning lines for `databasePath`, one per daemon that does not use it.
    static func warnings(databasePath: String) -> [String] {
        mismatches(databasePath: databasePath).map { mismatch in
            let what = mismatch.held.map { "holds \($0)" } ?? "was started on it and holds another file (renamed or replaced since)"
            return "warning: lbserver (pid \(mismatch.pid)) does not use \(databasePath): it \(what); "
                + "changes made here do not reach it until it is restarted on this file"
        }
    }

    /// Whether process `pid` was started with `--db` naming `absolute` (resolved in its working
    /// directory).
    private static func startedOn(_ absolute: String, pid: String, proc: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: "\(proc)/\(pid)/cmdline"),
              let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/\(pid)/cwd") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        var given: String?
        for (index, argument) in arguments.enumerated() {
            if argument == "--db", index + 1 < arguments.count { given = arguments[index + 1] }
            if argument.hasPrefix("--db=") { given = String(argument.dropFirst(5)) }
        }
        guard let given, !given.hasPrefix("postgres") else { return false }
        return absolutePath(given, relativeTo: cwd) == absolute
    }

    /// `path` made absolute in `directory`, its folder's symbolic links resolved as the kernel
    /// names open files in `/proc`.
    private static func absolutePath(_ path: String, relativeTo directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
        let folder = (joined as NSString).deletingLastPathComponent
        guard let resolved = realpath(folder, nil) else { return (joined as NSString).standardizingPath }
        defer { free(resolved) }
        return (String(cString: resolved) as NSString).appendingPathComponent((joined as NSString).lastPathComponent)
    }

    private static func identity(of path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}
