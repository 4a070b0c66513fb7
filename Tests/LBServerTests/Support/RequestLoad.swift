import Foundation
import NIOConcurrencyHelpers

/// A steady load of GET requests from several threads, each over keep-alive connections that it
/// replaces when the server says `Connection: close` (as any HTTP/1.1 client must), or after
/// `requestsPerConnection`. Counts every answered request and keeps every failure: a connection
/// refused or reset, a response cut short, a status other than 200.
final class RequestLoad: @unchecked Sendable {
    // @unchecked Sendable: the counters are guarded by `lock`; `stopping` too.
    private let lock = NIOLock()
    private var answered = 0
    private var failures: [String] = []
    private var stopping = false
    private var running = 0

    /// Starts `threads` threads sending to 127.0.0.1:`port`.
    init(port: Int, threads: Int = 8, requestsPerConnection: Int = 50) {
        for _ in 0..<threads {
            lock.withLock { running += 1 }
            let thread = Thread { [self] in
                defer { lock.withLock { running -= 1 } }
                run(port: port, requestsPerConnection: requestsPerConnection)
            }
            thread.start()
        }
    }

    var answeredCount: Int { lock.withLock { answered } }
    var failureList: [String] { lock.withLock { failures } }

    /// Stops every thread and waits for them (at most 20 s).
    func stop() {
        lock.withLock { stopping = true }
        _ = waitUntil(timeout: .seconds(20)) { lock.withLock { running == 0 } }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func run(port: Int, requestsPerConnection: Int) {
        while !isStopping {
            let connection: HTTPTestConnection
            do {
                connection = try HTTPTestConnection(port: port, timeoutSeconds: 10)
            } catch {
                record(failure: "connect: \(error)")
                continue
            }
            for _ in 0..<requestsPerConnection where !isStopping {
                do {
                    let response = try connection.request("GET", "/")
                    guard response.status == 200 else {
                        record(failure: "status \(response.status): \(response.text)")
                        break
                    }
                    lock.withLock { answered += 1 }
                    if response.header("Connection")?.lowercased() == "close" { break }
                } catch {
                    record(failure: "request: \(error)")
                    break
                }
            }
        }
    }

    private func record(failure: String) {
        lock.withLock { failures.append(failure) }
    }
}
