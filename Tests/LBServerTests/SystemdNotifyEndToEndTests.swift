import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// systemd's readiness protocol as the real daemon speaks it: `READY=1` once it serves,
/// `RELOADING=1` and `READY=1` around a reload, `WATCHDOG=1` while its loops run, `MAINPID=` of the
/// daemon that takes over, and `STOPPING=1` when it drains.
@Suite(.serialized) struct SystemdNotifyEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func theDaemonTellsSystemdWhenItIsReadyReloadsHandsOverAndStops() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let systemd = try NotifySocket(path: folder.url.appendingPathComponent("notify").path)
        let environment = ["NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "200000"]
        let old = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database], folder: folder.url,
                                    environment: environment)
        defer { old.stop() }
        let port = try old.waitUntilListening()
        let oldPID = old.process.processIdentifier
        let ready = try #require(systemd.next { $0["READY"] == "1" }, "no READY=1")
        #expect(ready["MAINPID"] == String(oldPID))
        #expect(ready["STATUS"]?.hasPrefix("serving on 127.0.0.1:\(port)") == true, "\(ready)")
        #expect(systemd.next { $0["WATCHDOG"] == "1" } != nil, "no WATCHDOG=1 within the watchdog interval")

        let reload = try runProduct("lbserver", ["reload", "--db", folder.database], folder: folder.url)
        #expect(reload.status == 0, "\(reload.stderr)")
        let reloading = try #require(systemd.next { $0["RELOADING"] == "1" }, "no RELOADING=1")
        #expect(reloading["MONOTONIC_USEC"].flatMap(UInt64.init) != nil)
        #expect(systemd.next { $0["READY"] == "1" } != nil, "no READY=1 after the reload")

        let new = try ServerProcess(lbserver: ["--db", folder.database, "--listen", "127.0.0.1:\(port)", "--replace"],
                                    folder: folder.url, environment: environment)
        defer { new.stop() }
        try new.waitUntilListening()
        let newPID = new.process.processIdentifier
        // The old daemon names its successor the main process; the successor says it is ready.
        #expect(systemd.next { $0["MAINPID"] == String(newPID) && $0["READY"] == nil } != nil, "no MAINPID of the successor")
        #expect(systemd.next { $0["READY"] == "1" && $0["MAINPID"] == String(newPID) } != nil)
        #expect(old.waitForExit(timeout: .seconds(30)) == 0)
        _ = systemd.next(timeout: .milliseconds(300)) { _ in false }
        #expect(!systemd.received.contains { $0["STOPPING"] == "1" }, "a daemon that handed over is not the service stopping")

        new.signal(SIGTERM)
        #expect(systemd.next { $0["STOPPING"] == "1" } != nil, "no STOPPING=1")
        #expect(new.waitForExit() == 0)
    }
}

/// A stand-in for systemd's notification socket: a Unix datagram socket in the test's folder, read
/// at once by a thread of its own (as systemd does), that keeps every message it receives, each as
/// its `KEY=VALUE` fields.
final class NotifySocket: @unchecked Sendable {
    // @unchecked Sendable: `messages` and `open` are guarded by `lock`.
    let path: String
    private let descriptor: Int32
    private let lock = NIOLock()
    private var messages: [[String: String]] = []
    private var open = true
    private var unread = 0

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestClientError(description: "cannot bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let reader = Thread { [self] in read() }
        reader.start()
    }

    deinit {
        lock.withLock { open = false }
        // The reader wakes within its receive timeout and stops; the descriptor is closed after.
        Thread.sleep(forTimeInterval: 0.2)
        close(descriptor)
    }

    private func read() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while lock.withLock({ open }) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            var fields: [String: String] = [:]
            for line in String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            lock.withLock { messages.append(fields) }
        }
    }

    /// Every message received so far.
    var received: [[String: String]] { lock.withLock { messages } }

    /// The next message, after those already returned, that `matches`; waits up to `timeout`.
    func next(timeout: Duration = .seconds(20), where matches: ([String: String]) -> Bool) -> [String: String]? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let pending = lock.withLock { Array(messages[unread...]) }
            for message in pending {
                unread += 1
                if matches(message) { return message }
            }
            guard ContinuousClock.now < deadline else { return nil }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}
