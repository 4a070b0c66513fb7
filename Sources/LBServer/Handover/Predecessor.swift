#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The running daemon this one replaces (`lbserver --replace`), reached on its control socket: it
/// handed over its listening sockets and serves on them until this daemon is ready and says so
/// with `release`, or until this daemon goes away, in which case it simply goes on serving.
final class Predecessor: Sendable {
    let pid: Int32
    let instance: String
    let version: String
    /// The listening sockets it handed over: the traffic port and, if it has one, the admin port.
    let traffic: ListeningSocket
    let admin: ListeningSocket?
    private let connection: Mutex<ConnectionHolder>

    private init(pid: Int32, instance: String, version: String, traffic: ListeningSocket, admin: ListeningSocket?,
                 connection: UnixStreamSocket) {
        self.pid = pid
        self.instance = instance
        self.version = version
        self.traffic = traffic
        self.admin = admin
        self.connection = Mutex(ConnectionHolder(connection))
    }

    /// Asks the daemon on `path` for its sockets. Nil when no daemon listens there (nothing to
    /// replace); throws when one does but refuses or answers wrongly. Blocks up to 10 s.
    static func contact(path: String, version: String) throws(ControlSocketError) -> Predecessor? {
        let connection: UnixStreamSocket
        do {
            connection = try UnixStreamSocket.connect(path: path, timeoutMilliseconds: 10_000)
        } catch {
            if error.errnoCode == ENOENT || error.errnoCode == ECONNREFUSED { return nil }
            throw error
        }
        try connection.send(ControlMessage("handover", [("pid", String(getpid())), ("version", version)]).line)
        guard let answer = try connection.receiveLine() else {
            throw ControlSocketError("the running lbserver closed \(path) without an answer")
        }
        let message = ControlMessage(parsing: answer.line)
        guard message.verb == "ok", let pid = message["pid"].flatMap({ Int32($0) }), let first = answer.descriptors.first else {
            for descriptor in answer.descriptors { close(descriptor) }
            throw ControlSocketError("the running lbserver refused to hand over: \(message["reason"] ?? answer.line)")
        }
        let admin = answer.descriptors.count > 1 ? ListeningSocket(descriptor: answer.descriptors[1]) : nil
        return Predecessor(pid: pid, instance: message["instance"] ?? "", version: message["version"] ?? "",
                           traffic: ListeningSocket(descriptor: first), admin: admin, connection: connection)
    }

    /// Tells the predecessor this daemon serves: it stops accepting and drains. Blocks until it
    /// confirms (at most 10 s).
    func release() throws(ControlSocketError) {
        let result = connection.withLock { holder -> Result<Void, ControlSocketError> in
            guard let connection = holder.connection else { return .failure(ControlSocketError("released already")) }
            defer { holder.connection = nil; connection.close() }
            do throws(ControlSocketError) {
                try connection.send(ControlMessage("release").line)
                guard let answer = try connection.receiveLine(), ControlMessage(parsing: answer.line).verb == "released" else {
                    return .failure(ControlSocketError("the replaced lbserver did not confirm the release"))
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Lets the predecessor go on as before (this daemon could not start).
    func abandon() {
        connection.withLock { holder in
            holder.connection?.close()
            holder.connection = nil
        }
    }
}

/// The control connection, owned by the `Predecessor`'s lock.
private final class ConnectionHolder: @unchecked Sendable {
    // @unchecked Sendable: only used inside the Mutex that holds it.
    var connection: UnixStreamSocket?

    init(_ connection: UnixStreamSocket) { self.connection = connection }
}
