#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOPosix

/// Handing over to a successor (`lbserver --replace`) and taking over from a predecessor: the
/// control socket's handlers, and the release that ends a takeover.
extension LoadBalancer {
    /// What the control socket does for each request.
    var controlHandlers: ControlService.Handlers {
        ControlService.Handlers(
            offer: { [self] successor in
                guard started.isReached else { return .failure(ControlRefusal(reason: "this lbserver is still starting")) }
                guard !handedOver.isReached, let offered = sockets.offer() else {
                    return .failure(ControlRefusal(reason: "this lbserver is stopping"))
                }
                return .success(HandoverOffer(traffic: offered.traffic, admin: offered.admin, fields: [
                    ("pid", String(getpid())), ("instance", configuration.instanceName), ("version", InstanceName.version),
                    ("listen", localAddressDescription),
                ]))
            },
            release: { [self] successor in handOver(to: successor) },
            abandon: { [self] successor, why in
                logger.warning("the new lbserver did not take over; serving on as before",
                               metadata: ["successor_pid": "\(successor)", "reason": "\(why)"])
            },
            reload: { [self] in await reload().controlAnswer })
    }

    /// The successor serves on the sockets: this daemon stops checking (the successor checks now),
    /// leaves the shared state to it, and drains as on SIGTERM, recording no stop of its own: the
    /// successor's `startup` event names this process.
    private func handOver(to successor: Int32) {
        handedOver.reach(successor)
        writer.retire()
        logger.notice("handed over to the new lbserver; no new connections, finishing requests in flight",
                      metadata: ["successor_pid": "\(successor)"])
        let checker = self.checker
        let group = runningGroup.withLock { $0 }
        Task {
            await checker.stop()
            await group?.triggerGracefulShutdown()
        }
    }

    /// Tells the predecessor this daemon serves, so that it drains; a predecessor that cannot be
    /// told (it died meanwhile) changes nothing here: the sockets are this daemon's either way.
    func release(_ predecessor: Predecessor) async {
        do {
            try await NIOThreadPool.singleton.runIfActive { try predecessor.release() }
            logger.notice("took over from the running lbserver, which now drains",
                          metadata: ["replaced_pid": "\(predecessor.pid)", "replaced_version": "\(predecessor.version)"])
        } catch {
            logger.warning("took over the listening sockets, but the replaced lbserver did not confirm its release",
                           metadata: ["replaced_pid": "\(predecessor.pid)", "error": "\(error)"])
        }
    }
}
