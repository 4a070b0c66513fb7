import Foundation

/// A response as a test sees it.
struct TestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why a test request failed at the transport level.
struct TestClientError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking HTTP/1.1 client over one TCP connection to 127.0.0.1, for tests: it sends exactly
/// the bytes it is given and parses exactly what comes back, with a receive timeout.
final class HTTPTestConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            // Not closed here: a class whose initializer throws once every property is set is
            // deinitialized, and `deinit` closes it. Closing twice closed whatever descriptor
            // another thread had opened meanwhile under the same number (glibc aborted on its
            // netlink socket).
            throw TestClientError(description: "connect to \(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw TestClientError(description: "send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Closes the connection now (a client hanging up).
    func hangUp() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Sends a request and reads its response.
    func request(_ method: String = "GET", _ path: String = "/", headers: [(String, String)] = [],
                 body: [UInt8] = []) throws -> TestResponse {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: test.local\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        try send(Array(text.utf8) + body)
        return try readResponse(method: method)
    }

    /// Reads one response; `method` tells whether a body follows (HEAD has none).
    func readResponse(method: String = "GET") throws -> TestResponse {
        let headEnd = try readUntil([13, 10, 13, 10])
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestClientError(description: "bad status line in \(head)")
        }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = TestResponse(status: status, headers: headers, body: [])
        if status < 200 && status != 101 { return try readResponse(method: method) }
        if method == "HEAD" || status == 204 || status == 304 { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            try fill(length)
            response.body = Array(buffer[..<length])
            buffer.removeFirst(length)
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                let lineEnd = try readUntil([13, 10])
                let size = Int(String(decoding: buffer[..<lineEnd], as: UTF8.self)
                    .split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
                buffer.removeFirst(lineEnd + 2)
                try fill(size + 2)
                response.body += buffer[..<size]
                buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
        } else {
            while try receive() > 0 {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    /// Reads one interim (1xx) response head and returns its status.
    func readInterim() throws -> Int {
        let headEnd = try readUntil([13, 10, 13, 10])
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        return Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Reads one response head and returns it as text, without reading a body (for a `101`).
    func readHead() throws -> String {
        let headEnd = try readUntil([13, 10, 13, 10])
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        return head
    }

    /// Reads exactly `count` bytes, whatever they are (after a protocol switch).
    func readBytes(_ count: Int) throws -> [UInt8] {
        try fill(count)
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// True if the peer closed the connection (reads end) within the receive timeout.
    func isClosedByPeer() -> Bool {
        do {
            return try receive() == 0
        } catch {
            // A reset is a close too; a receive timeout (EAGAIN) is not.
            return errno == ECONNRESET
        }
    }

    private func readUntil(_ marker: [UInt8]) throws -> Int {
        var searchFrom = 0
        while true {
            if buffer.count >= marker.count {
                for index in searchFrom...(buffer.count - marker.count) where Array(buffer[index..<index + marker.count]) == marker {
                    return index
                }
                searchFrom = max(0, buffer.count - marker.count + 1)
            }
            guard try receive() > 0 else { throw TestClientError(description: "connection closed mid-response") }
        }
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count {
            guard try receive() > 0 else { throw TestClientError(description: "connection closed mid-body") }
        }
    }

    @discardableResult
    private func receive() throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { throw TestClientError(description: "receive failed: errno \(errno)") }
        buffer += chunk[..<count]
        return count
    }
}

/// One request on a fresh connection.
func httpRequest(port: Int, _ method: String = "GET", _ path: String = "/", headers: [(String, String)] = [],
                 body: [UInt8] = []) throws -> TestResponse {
    try HTTPTestConnection(port: port).request(method, path, headers: headers, body: body)
}
