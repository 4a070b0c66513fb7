#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// systemd's readiness protocol (`sd_notify`), spoken natively: datagrams of `KEY=VALUE` lines to
/// the Unix socket named by `NOTIFY_SOCKET` (a path, or an abstract name after `@`). Without that
/// variable (not run by systemd as `Type=notify`) every call does nothing.
///
/// What the daemon says: `READY=1` once it serves, `RELOADING=1` (with `MONOTONIC_USEC`) and
/// `READY=1` around a reload, `STOPPING=1` when it drains, `MAINPID=` of its successor when it
/// hands over (so systemd follows the new process), `STATUS=` lines in words, and `WATCHDOG=1`
/// while its event loops answer, when the unit sets `WatchdogSec=`.
struct SystemdNotifier: Sendable {
    /// The socket's address, nil when systemd did not ask for notifications.
    let socketPath: String?
    /// How often systemd expects `WATCHDOG=1` (`WATCHDOG_USEC`), when it does and means this process.
    let watchdogInterval: Duration?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        // WATCHDOG_PID, when set, names the process the watchdog is for.
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(usec)
        } else {
            watchdogInterval = nil
        }
    }

    var isActive: Bool { socketPath != nil }

    /// Sends `fields` as one datagram; false when it could not be sent (logged by no one: systemd
    /// that is not listening is not the daemon's fault).
    @discardableResult
    func notify(_ fields: [(String, String)]) -> Bool {
        guard let socketPath else { return false }
        let message = fields.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        // A datagram to a full queue blocks: never for more than a second (systemd reads at once;
        // a notification it cannot take in that time is not worth holding the daemon up for).
        var limit = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(socketPath.utf8)
        // An abstract socket's name starts with a NUL byte where the text has '@'.
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        guard name.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (abstract ? 0 : 1))
        let sent = Array(message.utf8).withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent == message.utf8.count
    }

    /// `CLOCK_MONOTONIC` in microseconds, as `RELOADING=1` wants it beside.
    static var monotonicMicroseconds: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1_000
    }
}
