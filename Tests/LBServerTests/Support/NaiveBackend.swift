import Foundation
@testable import LBFuzz
@testable import LBServer
import NIOConcurrencyHelpers

/// A backend with a deliberately simple parser (`NaiveRequestParser`: no trailers, only an exact
/// `Transfer-Encoding: chunked` line, else the first `Content-Length`), on 127.0.0.1 with an
/// OS-chosen port, over plain POSIX sockets: one thread accepts, one thread per connection reads.
///
/// It answers every request it parses, in order, `200` with the body `seen: METHOD TARGET
/// body-bytes=N`, and records each one, so a test sees exactly what a naive server would have
/// done with the proxy's bytes. A target starting with `/r/slow` is answered after `slowAnswer`,
/// so a smuggled slow request's answer arrives late, when the pooled connection serves another client.
final class NaiveBackend: @unchecked Sendable {
    // @unchecked Sendable: `state` is guarded by `lock`; the sockets are used by their own threads.
    private struct State {
        var requests: [NaiveRequestParser.Request] = []
        var connections = 0
        var sockets: [Int32] = []
        var stopped = false
    }

    private let lock = NIOLock()
    private var state = State()
    private let listener: Int32
    private(set) var port = 0
    let slowAnswer: TimeInterval
    /// Upper bound on how long any of its threads runs, whatever a test does.
    private static let lifetime: TimeInterval = 120

    init(slowAnswer: TimeInterval = 0.3) throws {
        self.slowAnswer = slowAnswer
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw TestClientError(description: "naive backend could not listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Every request parsed so far, in the order parsed (across connections).
    var requests: [NaiveRequestParser.Request] { lock.withLock { state.requests } }

    /// Connections accepted so far (health probes included).
    var connections: Int { lock.withLock { state.connections } }

    /// Stops accepting and shuts every connection down; the threads end within a poll interval
    /// and each closes its own socket. Under the lock, so no socket is closed (and its number
    /// reused elsewhere) between being listed and being shut down.
    func stop() {
        lock.withLock {
            state.stopped = true
            for fd in state.sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    deinit { stop() }

    private var stopped: Bool { lock.withLock { state.stopped } }

    private func acceptLoop() {
        defer { close(listener) }
        let deadline = Date().addingTimeInterval(Self.lifetime)
        while !stopped && Date() < deadline {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            let accepted = lock.withLock { () -> Bool in
                guard !state.stopped else {
                    close(fd)
                    return false
                }
                state.connections += 1
                state.sockets.append(fd)
                return true
            }
            guard accepted else { continue }
            let thread = Thread { [self] in serve(fd, until: deadline) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32, until deadline: Date) {
        defer {
            lock.withLock {
                state.sockets.removeAll { $0 == fd }
                close(fd)
            }
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var parser = NaiveRequestParser()
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !stopped && Date() < deadline {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                return
            }
            parser.append(chunk[..<count])
            while let request = parser.next() {
                lock.withLock { state.requests.append(request) }
                if request.target.hasPrefix("/r/slow") { Thread.sleep(forTimeInterval: slowAnswer) }
                let body = Array("seen: \(request.description)".utf8)
                let response = Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
                var offset = 0
                while offset < response.count {
                    let written = response[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    guard written > 0 else { return }
                    offset += written
                }
            }
        }
    }
}
