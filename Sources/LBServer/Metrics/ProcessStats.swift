#if canImport(Glibc)
import Glibc
#endif

/// The process figures every Prometheus client library exports as `process_*`, read from `/proc`
/// (Linux) at each scrape: CPU time, memory, file descriptors, start time. Reads files, so it runs
/// where the scrape runs, on the thread pool, never on an event loop.
struct ProcessStats: Equatable {
    /// User and system CPU time.
    var cpuSeconds: Double
    var residentMemoryBytes: Int
    var virtualMemoryBytes: Int
    var openFileDescriptors: Int
    /// The soft limit on open file descriptors.
    var maxFileDescriptors: Int
    /// Since the Unix epoch.
    var startTimeSeconds: Double

    /// This process's figures; nil where `/proc` cannot be read (not Linux, or no procfs mounted).
    static func current() -> ProcessStats? {
        guard let stat = readText("/proc/self/stat"), let boot = readText("/proc/stat") else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let fields = statFields(stat), fields.count >= 22, ticksPerSecond > 0,
              let bootTime = bootTimeSeconds(boot) else { return nil }
        var limit = rlimit()
        let maxFiles = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : -1
        // Fields after the command, counted from 0 at `state` (field 3 of proc(5)): utime is
        // field 14, stime 15, starttime 22, vsize 23, rss 24 (pages).
        func field(_ number: Int) -> Int { Int(fields[number - 3]) ?? 0 }
        return ProcessStats(
            cpuSeconds: Double(field(14) + field(15)) / ticksPerSecond,
            residentMemoryBytes: field(24) * pageSize, virtualMemoryBytes: field(23),
            openFileDescriptors: countOpenFileDescriptors(), maxFileDescriptors: maxFiles,
            startTimeSeconds: Double(bootTime) + Double(field(22)) / ticksPerSecond)
    }

    /// The fields of `/proc/self/stat` after the command name, which is in parentheses and may
    /// itself hold spaces and parentheses: everything after its last `)`.
    static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    }

    /// `btime` of `/proc/stat`: when the system booted, in seconds since the epoch.
    static func bootTimeSeconds(_ text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Int(line.dropFirst("btime ".count).trimmingSpaces)
        }
        return nil
    }

    private static func countOpenFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0.first ?? 0 }
            if first != UInt8(ascii: ".") { count += 1 }
        }
        // The directory's own descriptor, open while it is listed, is not one of the process's.
        return max(0, count - 1)
    }

    /// A small file's text (procfs files report size 0, so read until the end).
    private static func readText(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
