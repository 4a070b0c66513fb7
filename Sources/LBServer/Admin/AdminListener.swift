import NIOCore
import ServiceLifecycle

/// The admin port (`--admin`) as a Service: binds in `run()` (or takes the socket a replaced
/// daemon handed over) once the traffic listener is bound
/// (so a port in use on both is reported for the traffic port, as it always was), serves status,
/// page and metrics until the graceful shutdown or cancellation, then closes.
///
/// A bind failure throws a `StartupError` naming the address, which fails the group.
final class AdminListener: Service, Sendable {
    private let host: String
    private let port: Int
    private let group: EventLoopGroup
    private let sockets: ListenerSockets
    private let startsAfter: Milestone<SocketAddress>
    private let bound: Milestone<SocketAddress>
    private let metrics: @Sendable () -> [UInt8]
    private let report: @Sendable () -> StatusReport

    /// Binds after `startsAfter` is reached and reaches `bound` with the address it bound.
    init(host: String, port: Int, group: EventLoopGroup, sockets: ListenerSockets, startsAfter: Milestone<SocketAddress>,
         bound: Milestone<SocketAddress>, metrics: @escaping @Sendable () -> [UInt8],
         report: @escaping @Sendable () -> StatusReport) {
        self.host = host
        self.port = port
        self.group = group
        self.sockets = sockets
        self.startsAfter = startsAfter
        self.bound = bound
        self.metrics = metrics
        self.report = report
    }

    func run() async throws {
        // Cancelled while waiting: the traffic listener failed, and the group is stopping.
        guard (try? await startsAfter.value()) != nil else { return }
        let channel: Channel
        do {
            let socket = try sockets.admin(host: host, port: port).socket
            channel = try await AdminHandler.serve(on: socket, group: group, metrics: metrics, report: report)
            sockets.accepting(on: channel)
        } catch {
            throw StartupError(.adminListener, "cannot listen on \(host):\(port) for --admin: \(TrafficListener.describe(error))")
        }
        if let address = channel.localAddress { bound.reach(address) }
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

extension AdminListener: CustomStringConvertible {
    var description: String { "AdminListener(\(host):\(port))" }
}
