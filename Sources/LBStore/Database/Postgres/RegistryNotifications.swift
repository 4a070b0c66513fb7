import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Word from PostgreSQL that the registry changed: a connection of its own that LISTENs on
/// `lb_registry`, which the registry's triggers NOTIFY when a change commits (`PostgresSchema`).
///
/// A push, so that a fleet follows an `lbctl` change at once instead of at its next poll; the
/// poll stays as the fallback, and a notice only says "look now": what changed is read by the
/// poll it wakes. Async, unlike the blocking `Connection`: it waits on the server for as long as
/// the daemon runs, and holds no thread while it does.
public final class RegistryNotifications: Sendable {
    /// The channel the registry's triggers notify.
    public static let channel = "lb_registry"

    private let configuration: PostgresConnection.Configuration
    private let location: String
    private let eventLoop: any EventLoop
    private let logger: Logger

    public init(target: PostgresTarget, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(),
                logger: Logger) throws {
        configuration = try PostgresStoreConnection.configuration(for: target)
        location = target.description
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Listens until the task is cancelled, calling `notice` for every notification and once each
    /// time the listening starts (a change committed while it was not listening was not pushed).
    /// A lost connection is made again after `retryDelay`; the failure is logged once per outage.
    public func run(retryDelay: Duration = .seconds(1), notice: @escaping @Sendable () -> Void) async {
        var failing = false
        while !Task.isCancelled {
            do {
                let connection = try await connect()
                do {
                    try await connection.listen(on: Self.channel) { notifications in
                        if failing {
                            failing = false
                            logger.info("registry notifications resumed", metadata: ["database": "\(location)"])
                        }
                        notice()
                        for try await _ in notifications { notice() }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                if !failing {
                    failing = true
                    let reason = PostgresStoreConnection.storeError(error, location: location, connecting: true)
                    logger.warning("registry notifications interrupted; polling until they resume",
                                   metadata: ["error": "\(reason.message)"])
                }
            }
            try? await Task.sleep(for: retryDelay)
        }
    }

    /// A new connection; a cancellation (the daemon stopping) ends the wait at once, even while a
    /// server that does not answer keeps the connect waiting for its timeout. A connection that
    /// comes after that is closed.
    private func connect() async throws -> PostgresConnection {
        let connecting: EventLoopFuture<PostgresConnection> =
            PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 2, logger: logger)
        let answer = eventLoop.makePromise(of: PostgresConnection.self)
        connecting.cascade(to: answer)
        return try await withTaskCancellationHandler {
            try await answer.futureResult.get()
        } onCancel: {
            answer.fail(CancellationError())
            connecting.whenSuccess { connection in connection.close().whenComplete { _ in } }
        }
    }
}
