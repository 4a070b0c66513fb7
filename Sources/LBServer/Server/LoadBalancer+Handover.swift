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
            release: { [self] successor in await handOver(to: successor) },
            abandon: { [self] successor, why in
                logger.warning("the new lbserver did not take over; serving on as before",
                               metadata: ["successor_pid": "\(successor)", "reason": "\(why)"])
            },
            reload: { [self] request in
                await reload(restart: RestartPolicy(rawValue: request["restart"] ?? "") ?? .whenNeeded).controlAnswer
            })
    }

    /// The successor is ready: this daemon stops accepting (the successor accepts once told so),
    /// stops checking (the successor checks now), leaves the shared state to it, and drains as on
    /// SIGTERM, recording no stop of its own: the successor's `startup` event names this process.
    private func handOver(to successor: Int32) async {
        await sockets.stopAccepting()
        // systemd follows the successor from now on (it sends READY itself).
        notifier.notify([("MAINPID", String(successor)), ("STATUS", "handed over to pid \(successor); draining")])
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

    /// Starts a successor (`Successor`) and waits until it took over, or exited, or the start limit
    /// passed (it is then stopped): the reload's result says which. This daemon then drains as on
    /// any handover.
    func restartByHandover(after reloaded: ReloadResult) async -> ReloadResult {
        var result = reloaded
        guard let successor else {
            result.refusal = "cannot restart: the program this lbserver was started as cannot be found again"
            return result
        }
        let exited = Milestone<Int32>()
        let pid: Int32
        do {
            pid = try successor.start(whenExited: { exited.reach($0) })
        } catch {
            result.refusal = "cannot start \(successor.executable): \(error)"
            return result
        }
        logger.notice("restarting by handover: the new lbserver takes over the listening sockets",
                      metadata: ["successor_pid": "\(pid)", "executable": "\(successor.executable)"])
        let clock = ContinuousClock()
        let deadline = clock.now + ControlService.successorStartLimit
        while clock.now < deadline {
            if let taker = handedOver.current {
                result.restartedAs = taker
                return result
            }
            if let status = exited.current {
                result.refusal = "the new lbserver (pid \(pid)) exited with status \(status) before it took over; "
                    + "see its log. This one goes on serving"
                return result
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGTERM)
        result.refusal = "the new lbserver (pid \(pid)) did not take over within "
            + "\(ControlService.successorStartLimit.components.seconds) s and was stopped. This one goes on serving"
        return result
    }
}
