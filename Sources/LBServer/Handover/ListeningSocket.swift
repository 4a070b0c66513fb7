#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// A bound, listening TCP socket the daemon owns by descriptor, so that it can hand the very same
/// socket, with its accept queue, to the daemon that replaces it (`lbserver --replace`). NIO serves
/// it through `ServerBootstrap.withBoundSocket`, which takes the descriptor over.
struct ListeningSocket: Sendable {
    let descriptor: CInt

    /// How many connections the kernel queues before they are accepted.
    static let backlog: CInt = 1024

    /// Binds `host:port` (port 0: the OS chooses) and listens; throws the errno as an `IOError`.
    static func bind(host: String, port: Int) throws -> ListeningSocket {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let family = address.protocol.rawValue
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var one: CInt = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        let bound = address.withSockAddr { pointer, length in Glibc.bind(descriptor, pointer, socklen_t(length)) }
        guard bound == 0, listen(descriptor, backlog) == 0 else {
            let code = errno
            _ = Glibc.close(descriptor)
            throw IOError(errnoCode: code, reason: "bind")
        }
        return ListeningSocket(descriptor: descriptor)
    }

    /// The address the socket is bound to (`getsockname`), nil if it cannot be read.
    var localAddress: SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) == 0 }
        }
        guard ok else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: storage) { SocketAddress($0.load(as: sockaddr_in.self), host: "") }
        case AF_INET6:
            return withUnsafeBytes(of: storage) { SocketAddress($0.load(as: sockaddr_in6.self), host: "") }
        default:
            return nil
        }
    }

    /// Whether this socket serves what `host:port` asks for: the same address, or any port when
    /// `port` is 0. A name that does not resolve serves nothing.
    func serves(host: String, port: Int) -> Bool {
        guard let local = localAddress,
              let wanted = try? SocketAddress.makeAddressResolvingHost(host, port: port == 0 ? (local.port ?? 0) : port) else {
            return false
        }
        return local.ipAddress == wanted.ipAddress && local.port == wanted.port
    }

    /// Closes this process's descriptor; the socket lives on in any process that has a copy.
    func close() {
        _ = Glibc.close(descriptor)
    }

    /// A second descriptor for the same socket, for handing over while this one may be closed.
    func duplicate() -> ListeningSocket? {
        let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        return copy >= 0 ? ListeningSocket(descriptor: copy) : nil
    }

    /// Makes the kernel queue up to `backlog` connections again: NIO's `withBoundSocket` calls
    /// `listen` with its own, smaller default.
    func restoreBacklog() {
        _ = listen(descriptor, Self.backlog)
    }
}
