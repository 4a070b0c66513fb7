import Foundation

/// A program the tests use from the system (Debian's `promtool`, `chromium`), found on `PATH`.
/// `scripts/test` installs them; a test that needs one is skipped, saying why, where it is missing.
enum ExternalTool {
    /// The executable called `name` on `PATH` (or in /usr/bin, /usr/sbin), nil when there is none.
    static func path(_ name: String) -> String? {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        return folders.lazy.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var promtool: String? { path("promtool") }
    static var chromium: String? { path("chromium") }
}
