import NIOCore
import Synchronization

/// Caps the number of open client connections. A connection accepted beyond the cap is closed as
/// soon as it is set up, so the connections already open keep being served.
///
/// Shared by every child channel's initializer; the count is atomic because connections open and
/// close on different event loops.
final class ConnectionLimiter: Sendable {
    /// Returned from the child initializer to have NIO close a connection over the cap.
    struct Refused: Error {}

    /// Replaced by a reload; connections already open over a lowered cap stay open.
    private let maximum: Atomic<Int>
    private let open = Atomic<Int>(0)
    private let onRefused: @Sendable () -> Void

    init(maximum: Int, onRefused: @escaping @Sendable () -> Void) {
        self.maximum = Atomic(maximum)
        self.onRefused = onRefused
    }

    /// The cap for the connections accepted from now on.
    func setMaximum(_ maximum: Int) { self.maximum.store(maximum, ordering: .relaxed) }

    /// Connections open now.
    var openConnections: Int { open.load(ordering: .relaxed) }

    /// Counts `channel` in if there is room (and out again when it closes); false if there is none.
    func admit(_ channel: Channel) -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).oldValue >= maximum.load(ordering: .relaxed) {
            open.wrappingSubtract(1, ordering: .relaxed)
            onRefused()
            return false
        }
        channel.closeFuture.whenComplete { [self] _ in open.wrappingSubtract(1, ordering: .relaxed) }
        return true
    }
}
