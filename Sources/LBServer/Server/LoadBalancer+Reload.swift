import Foundation
import LBStore
import Logging
import NIOCore
import NIOPosix

/// The reload (SIGHUP, `lbserver reload`): what it reads, applies in place, or restarts for.
extension LoadBalancer {
    /// What a reload read and changed.
    private struct ReloadOutcome: Sendable {
        var new: ServerConfiguration
        var registryChanges: [ConfigDifference]
        /// Config keys whose new values were applied in place, and backends added or removed.
        var applied: [String]
        /// Config keys whose new values take effect only after a restart.
        var needRestart: [String]
    }

    /// SIGHUP or `lbserver reload`: reads the configuration again, applies in place every setting
    /// that needs no new socket or process (`Setting.reload`), and brings the registry in line
    /// with the backends it declares (the registry watcher then applies that as it does an `lbctl`
    /// change), without closing a connection. Settings that need a new process are named as
    /// needing a restart, unless `restart` asks for a restart by handover (`lbserver reload`). A
    /// bad file changes nothing and is logged with its line. Either way the outcome is recorded
    /// as a `reload` event and returned; systemd hears `RELOADING=1`, then `READY=1`.
    func reload(restart: RestartPolicy = .never) async -> ReloadResult {
        let mayReload = reloading.withLock { reloading -> Bool in
            guard !reloading else { return false }
            reloading = true
            return true
        }
        guard mayReload else { return ReloadResult(refusal: "another reload is in progress") }
        defer { reloading.withLock { $0 = false } }
        notifier.notify([("RELOADING", "1"), ("MONOTONIC_USEC", String(SystemdNotifier.monotonicMicroseconds))])
        var result = await reloadInPlace()
        if result.refusal == nil, restart == .always || (restart == .whenNeeded && !result.needsRestart.isEmpty) {
            result = await restartByHandover(after: result)
        }
        writer.record(result.event(at: .now()))
        // After a handover the successor is the main process and says READY itself.
        if !handedOver.isReached { notifier.notify([("READY", "1"), ("STATUS", statusLine)]) }
        return result
    }

    /// Reads the configuration again and applies what can be applied in place: first what can
    /// fail (opening the access log, reading certificates, the registry's transaction), so that a
    /// failure changes nothing, then the rest.
    private func reloadInPlace() async -> ReloadResult {
        guard let reloadConfiguration else {
            logger.notice("SIGHUP: no configuration to reload")
            return ReloadResult(refusal: "this lbserver has no configuration to read again")
        }
        let running = configuration
        let previous = lastLoaded.withLock { $0 }
        let path = configuration.databasePath
        let tls = self.tls
        let backendTLS = self.backendTLS
        let accessLog = self.accessLog
        let result: ReloadResult
        do {
            // Reading files and the registry transaction block: never on an event loop.
            let outcome = try await NIOThreadPool.singleton.runIfActive { () throws -> ReloadOutcome in
                let new = try reloadConfiguration()
                var needRestart = ServerConfiguration.settingsNeedingRestart(from: running, to: new)
                var applied = ServerConfiguration.settingsApplied(from: previous, to: new)
                    .filter { $0 != Settings.backends.key }
                // Opened anew at every reload, changed or not: after logrotate, a reload is what
                // moves the log to the new file.
                let accessLogDestination = try AccessLog.Destination(new.accessLog, format: new.logFormat)
                do {
                    // Certificate files are read again even when their paths are the same. One
                    // that cannot be used fails the whole reload, and the listener and the pools
                    // keep the ones they have. Turning TLS on or off needs a restart.
                    let serverCertificates = try tls != nil && new.tls.isEnabled ? ServerCertificates.load(new.tls) : nil
                    if (tls != nil) != new.tls.isEnabled { needRestart.append("tls") }
                    let backendContexts = try BackendTLS.load(new.backendTLS)
                    // A connection of its own, as lbctl's would be: the watcher polls data_version,
                    // which moves only for commits made by other connections.
                    let differences = new.backends.isEmpty
                        ? [] : try Store(location: StoreLocation(parsing: path), mode: .existing)
                            .reconcile(declared: new.declaredBackends, occasion: "reload", instance: new.instanceName)
                    if !new.backends.isEmpty {
                        let before = Set(previous.backends.map(\.text))
                        let after = Set(new.backends.map(\.text))
                        applied += new.backends.map(\.text).filter { !before.contains($0) }.map { "added:\($0)" }
                        applied += previous.backends.map(\.text).filter { !after.contains($0) }.map { "removed:\($0)" }
                    }
                    // Nothing fails from here on.
                    accessLog.use(accessLogDestination)
                    if let tls, let serverCertificates {
                        tls.use(serverCertificates)
                        if !applied.contains("tls") { applied.append("tls") }
                    }
                    backendTLS.use(backendContexts)
                    self.lastLoaded.withLock { $0 = new }
                    self.apply(new, over: previous)
                    return ReloadOutcome(new: new, registryChanges: differences, applied: applied, needRestart: needRestart)
                } catch {
                    accessLogDestination.discard()
                    throw error
                }
            }
            let registryText = outcome.registryChanges.map { "\($0.field):\($0.url)" }
            result = ReloadResult(refusal: nil, applied: outcome.applied + registryText, needsRestart: outcome.needRestart)
            logger.notice("configuration reloaded", metadata: [
                "backends": "\(outcome.new.backends.count)",
                "tls_certificates": "\(tls?.certificates.count ?? 0)",
                "applied": "\(result.applied.isEmpty ? "none" : result.applied.joined(separator: ","))",
            ])
            if !outcome.needRestart.isEmpty {
                logger.warning("changed settings take effect at the next restart",
                               metadata: ["settings": "\(outcome.needRestart.joined(separator: ","))",
                                          "use": "lbserver reload (restarts by handover) or lbserver --replace"])
            }
        } catch {
            let reason = (error as? StartupError)?.description ?? (error as? StoreError)?.message
                ?? (error as? ConfigurationError)?.description ?? "\(error)"
            result = ReloadResult(refusal: reason, refusedFile: error is ConfigurationError)
            logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(reason)"])
        }
        return result
    }

    /// Puts `new`'s settings to work in the running parts, none of which closes a connection:
    /// the log's level and format, the connection cap, the pools' limits and timeouts, the
    /// balancer (a new one when the algorithm or slow start changed, given the backends at once),
    /// the checks, outlier detection (ending every ejection when it was turned off), the
    /// registry's poll interval, and last the proxy context each event loop's connections take
    /// before their next request. Returns once every event loop has what it needs: it waits
    /// (on a thread of the thread pool, never an event loop) rather than awaits, so that a
    /// sanitizer sees the loops' work happen before the answer.
    private func apply(_ new: ServerConfiguration, over previous: ServerConfiguration) {
        LineLogHandler.live.set(level: new.logLevel, format: new.logFormat)
        limiter.setMaximum(new.proxy.maxConnections)
        let pooled = pools.update(new.proxy)
        if new.balancing.algorithm != previous.balancing.algorithm || new.balancing.slowStart != previous.balancing.slowStart {
            let cursor = registry.balancer.cursorToSave ?? 0
            registry.replaceBalancer(with: new.balancing.makeBalancer(cursor: cursor))
        }
        trafficMarkDowns.setWindow(new.health.downInterval)
        let checking = checker.update(new.health)
        outliers.update(new.outlier)
        if previous.outlier.isEnabled && !new.outlier.isEnabled { outliers.endAllEjections(of: registry.all) }
        watcher.setPollInterval(.nanoseconds(new.registryPollInterval.nanoseconds))
        let replaced = liveContext.replace(with: Self.proxyContext(
            for: new, balancer: registry.balancer, pools: pools, tls: tls, sink: sink, accessLog: accessLog,
            checker: checker, trafficMarkDowns: trafficMarkDowns, outliers: outliers))
        try? EventLoopFuture.andAllComplete([pooled, checking, replaced], on: replaced.eventLoop).wait()
    }
}

/// Whether a reload restarts the daemon by handover: never (SIGHUP), when a changed setting
/// needs a new process (`lbserver reload`), or always (`lbserver reload --upgrade`).
enum RestartPolicy: String, Sendable {
    case never
    case whenNeeded = "when-needed"
    case always
}

/// A reload's outcome: applied (with what it applied and what waits for a restart) or refused.
struct ReloadResult: Sendable {
    /// Why the new configuration was refused; nil when it was applied.
    var refusal: String?
    /// Refused because the configuration file could not be read or said something wrong.
    var refusedFile = false
    var applied: [String] = []
    var needsRestart: [String] = []
    /// The process that took over when the reload restarted by handover.
    var restartedAs: Int32?

    /// The `reload` event that records it.
    func event(at now: Timestamp) -> Event {
        let list = { (items: [String]) in items.isEmpty ? "none" : items.joined(separator: ",") }
        if let refusal {
            return Event(at: now, kind: .reload, detail: "refused: \(refusal)",
                         data: EventData(outcome: "refused", reason: refusal))
        }
        let restarted = restartedAs.map { " restarted_pid=\($0)" } ?? ""
        return Event(at: now, kind: .reload,
                     detail: "ok applied=\(list(applied)) needs_restart=\(list(needsRestart))\(restarted)",
                     data: EventData(outcome: "ok", applied: applied, needsRestart: needsRestart,
                                     restartedPID: restartedAs.map(Int.init)))
    }

    /// The control socket's answer to `lbserver reload`.
    var controlAnswer: ControlMessage {
        if let refusal {
            return ControlMessage("refused", [("file_error", String(refusedFile)), ("reason", refusal)])
        }
        return ControlMessage("ok", [("applied", applied.joined(separator: ",")),
                                     ("needs_restart", needsRestart.joined(separator: ",")),
                                     ("restarted", restartedAs.map(String.init) ?? "")])
    }
}
