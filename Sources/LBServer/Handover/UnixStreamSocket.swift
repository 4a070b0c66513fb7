#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a control-socket operation failed, in words an operator acts on.
struct ControlSocketError: Error, CustomStringConvertible, Sendable {
    let description: String
    /// The system call's error, when one failed.
    let errnoCode: CInt?

    init(_ description: String, errnoCode: CInt? = nil) {
        self.description = description
        self.errnoCode = errnoCode
    }

    /// `operation` failed with the current `errno`.
    static func system(_ operation: String, path: String) -> ControlSocketError {
        let code = errno
        return ControlSocketError("\(operation) \(path): \(String(cString: strerror(code)))", errnoCode: code)
    }
}

/// One end of a Unix stream socket, blocking, with a deadline on every read and write: the daemon's
/// control socket (`ControlService`) and its clients (`lbserver --replace`, `lbserver reload`).
/// Messages are lines of text; a line may carry open file descriptors (`SCM_RIGHTS`), which is how
/// the listening sockets pass from one daemon to the next. SwiftNIO has no API to send descriptors
/// over a stream socket, hence plain system calls on threads of their own.
///
/// Not thread-safe: one thread uses a connection at a time. Closed by `close()` or when released.
final class UnixStreamSocket {
    private(set) var descriptor: CInt
    private var buffered: [UInt8] = []
    /// Descriptors received with lines not read yet, in arrival order.
    private var receivedDescriptors: [CInt] = []

    /// The longest path a Unix socket address holds (`sun_path`, with its terminating NUL).
    static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    private init(descriptor: CInt) { self.descriptor = descriptor }

    deinit { close() }

    func close() {
        guard descriptor >= 0 else { return }
        _ = Glibc.close(descriptor)
        descriptor = -1
        for received in receivedDescriptors { _ = Glibc.close(received) }
        receivedDescriptors = []
    }

    // MARK: Listening and connecting

    /// A listening socket at `path`. A file left at `path` by a daemon that is gone (nobody accepts
    /// on it) is replaced; one a live daemon listens on is not: that throws "in use".
    static func listen(path: String) throws(ControlSocketError) -> UnixStreamSocket {
        if let existing = try? connect(path: path, timeoutMilliseconds: 1_000) {
            existing.close()
            throw ControlSocketError("\(path) is in use by a running lbserver")
        }
        unlink(path)
        let socket = try makeSocket(path: path)
        let bound = try withAddress(path) { address, length in bind(socket.descriptor, address, length) }
        guard bound == 0 else { throw .system("cannot bind", path: path) }
        // Only the daemon's user (and root) may hand the daemon's sockets over or reload it.
        chmod(path, 0o600)
        guard Glibc.listen(socket.descriptor, 16) == 0 else { throw .system("cannot listen on", path: path) }
        return socket
    }

    /// Connects to the socket at `path`, waiting at most `timeoutMilliseconds` for each later read
    /// or write.
    static func connect(path: String, timeoutMilliseconds: Int) throws(ControlSocketError) -> UnixStreamSocket {
        let socket = try makeSocket(path: path)
        let connected = try withAddress(path) { address, length in Glibc.connect(socket.descriptor, address, length) }
        guard connected == 0 else { throw .system("cannot connect to", path: path) }
        socket.setTimeout(milliseconds: timeoutMilliseconds)
        return socket
    }

    /// Waits up to `timeoutMilliseconds` for a connection; nil when none came.
    func accept(timeoutMilliseconds: Int32) -> UnixStreamSocket? {
        var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, timeoutMilliseconds) == 1 else { return nil }
        let accepted = Glibc.accept(descriptor, nil, nil)
        guard accepted >= 0 else { return nil }
        _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
        let connection = UnixStreamSocket(descriptor: accepted)
        connection.setTimeout(milliseconds: 10_000)
        return connection
    }

    /// The process at the other end of a connection (`SO_PEERCRED`), as the kernel says.
    var peerProcess: (pid: Int32, uid: UInt32)? {
        // `struct ucred` and SO_PEERCRED (17 on Linux) need _GNU_SOURCE, which Swift's Glibc lacks.
        var credentials = (pid: Int32(0), uid: UInt32(0), gid: UInt32(0))
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(descriptor, SOL_SOCKET, 17, &credentials, &length) == 0 else { return nil }
        return (credentials.pid, credentials.uid)
    }

    /// How long a read or write may block before it fails.
    func setTimeout(milliseconds: Int) {
        var time = timeval(tv_sec: milliseconds / 1_000, tv_usec: (milliseconds % 1_000) * 1_000)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func makeSocket(path: String) throws(ControlSocketError) -> UnixStreamSocket {
        guard path.utf8.count <= maximumPathLength else {
            throw ControlSocketError("\(path): a Unix socket path holds at most \(maximumPathLength) bytes; "
                                     + "set control_socket to a shorter one")
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .system("cannot make a socket for", path: path) }
        return UnixStreamSocket(descriptor: descriptor)
    }

    private static func withAddress(_ path: String,
                                    _ body: (UnsafePointer<sockaddr>, socklen_t) -> CInt) throws(ControlSocketError) -> CInt {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    // MARK: Lines and descriptors

    /// Sends `line` (a newline is added) with `descriptors` attached; they stay open here (the
    /// kernel gives the receiver copies).
    func send(_ line: String, descriptors: [CInt] = []) throws(ControlSocketError) {
        var bytes = Array((line + "\n").utf8)
        let controlLength = descriptors.isEmpty ? 0 : Self.controlSpace(descriptors.count)
        var control = [UInt8](repeating: 0, count: controlLength)
        let sent = bytes.withUnsafeMutableBytes { data -> Int in
            control.withUnsafeMutableBytes { controlBytes -> Int in
                if !descriptors.isEmpty { Self.writeRights(descriptors, into: controlBytes) }
                return Self.withMessage(data, control: descriptors.isEmpty ? nil : controlBytes) { message in
                    sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL))
                }
            }
        }
        guard sent > 0 else { throw .system("cannot write to", path: "the control socket") }
        // The descriptors went with the first byte; the rest of the line, if the kernel took only
        // part of it, follows plainly.
        if sent < bytes.count { try write(Array(bytes[sent...])) }
    }

    private func write(_ bytes: [UInt8]) throws(ControlSocketError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw .system("cannot write to", path: "the control socket") }
            offset += written
        }
    }

    /// Reads the next line (without its newline) and the descriptors that came with it; nil at
    /// the end of the stream. Throws on a timeout or an error.
    func receiveLine() throws(ControlSocketError) -> (line: String, descriptors: [CInt])? {
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                defer { receivedDescriptors = [] }
                return (line, receivedDescriptors)
            }
            guard buffered.count < 65_536 else { throw ControlSocketError("a control message over 64 KiB") }
            var chunk = [UInt8](repeating: 0, count: 4_096)
            var control = [UInt8](repeating: 0, count: Self.controlSpace(8))
            let received = chunk.withUnsafeMutableBytes { data -> Int in
                control.withUnsafeMutableBytes { controlBytes -> Int in
                    Self.withMessage(data, control: controlBytes) { message in
                        let count = recvmsg(descriptor, &message, Int32(MSG_CMSG_CLOEXEC))
                        if count >= 0 {
                            receivedDescriptors += Self.readRights(from: UnsafeRawBufferPointer(
                                start: controlBytes.baseAddress, count: Int(message.msg_controllen)))
                        }
                        return count
                    }
                }
            }
            if received == 0 { return nil }
            guard received > 0 else {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw ControlSocketError("no answer in time") }
                throw .system("cannot read from", path: "the control socket")
            }
            buffered += chunk[..<received]
        }
    }

    /// Calls `body` with a message header over `data` (one vector) and `control`, for `sendmsg`
    /// and `recvmsg`.
    private static func withMessage<Result>(_ data: UnsafeMutableRawBufferPointer,
                                            control: UnsafeMutableRawBufferPointer?,
                                            _ body: (inout msghdr) -> Result) -> Result {
        var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
            var message = msghdr()
            message.msg_iov = vectorPointer
            message.msg_iovlen = 1
            if let control {
                message.msg_control = control.baseAddress
                message.msg_controllen = control.count
            }
            return body(&message)
        }
    }

    // MARK: SCM_RIGHTS layout (the CMSG_* macros, which Swift cannot import)

    private static let headerLength = align(MemoryLayout<cmsghdr>.size)

    private static func align(_ length: Int) -> Int {
        let unit = MemoryLayout<Int>.size
        return (length + unit - 1) & ~(unit - 1)
    }

    private static func controlSpace(_ descriptors: Int) -> Int {
        headerLength + align(descriptors * MemoryLayout<CInt>.size)
    }

    private static func writeRights(_ descriptors: [CInt], into buffer: UnsafeMutableRawBufferPointer) {
        var header = cmsghdr()
        header.cmsg_len = headerLength + descriptors.count * MemoryLayout<CInt>.size
        header.cmsg_level = SOL_SOCKET
        header.cmsg_type = Int32(SCM_RIGHTS)
        buffer.storeBytes(of: header, as: cmsghdr.self)
        for (index, descriptor) in descriptors.enumerated() {
            buffer.storeBytes(of: descriptor, toByteOffset: headerLength + index * MemoryLayout<CInt>.size, as: CInt.self)
        }
    }

    private static func readRights(from buffer: UnsafeRawBufferPointer) -> [CInt] {
        var descriptors: [CInt] = []
        var offset = 0
        while offset + headerLength <= buffer.count {
            let header = buffer.loadUnaligned(fromByteOffset: offset, as: cmsghdr.self)
            let length = Int(header.cmsg_len)
            guard length >= headerLength, offset + length <= buffer.count else { break }
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == Int32(SCM_RIGHTS) {
                let count = (length - headerLength) / MemoryLayout<CInt>.size
                for index in 0..<count {
                    descriptors.append(buffer.loadUnaligned(fromByteOffset: offset + headerLength + index * MemoryLayout<CInt>.size,
                                                            as: CInt.self))
                }
            }
            offset += align(length)
        }
        return descriptors
    }
}
