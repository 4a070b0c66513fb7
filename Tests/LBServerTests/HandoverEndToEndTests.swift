import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing

/// `lbserver --replace`: a new daemon takes over a running one's listening sockets (passed over the
/// control socket), and the old one drains, with no request lost; and `lbserver reload`, which
/// exits with the daemon's verdict.
@Suite(.serialized) struct HandoverEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func aReplacementTakesOverUnderLoadWithoutAFailedRequest() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let arguments = ["--backends", "\(a.url),\(b.url)", "--db", folder.database, "--admin", "127.0.0.1:0"]
        let old = try ServerProcess(lbserver: arguments, folder: folder.url)
        defer { old.stop() }
        let port = try old.waitUntilListening()
        let adminPort = old.adminPort

        let load = RequestLoad(port: port)
        defer { load.stop() }
        #expect(waitUntil(timeout: .seconds(20)) { load.answeredCount >= 300 })
        // The same flags but the port, which the replacement must serve on the socket handed over.
        let new = try ServerProcess(lbserver: arguments + ["--listen", "127.0.0.1:\(port)", "--replace"],
                                    folder: folder.url)
        defer { new.stop() }
        #expect(try new.waitUntilListening() == port)
        #expect(new.adminPort == adminPort, "the admin socket is handed over too")
        #expect(old.waitForExit(timeout: .seconds(30)) == 0, "the old daemon drains and exits cleanly")
        let afterHandover = load.answeredCount
        #expect(waitUntil(timeout: .seconds(20)) { load.answeredCount >= afterHandover + 300 })
        load.stop()
        #expect(load.failureList.isEmpty, "\(load.failureList.count) failed: \(load.failureList.prefix(5))")
        #expect(try httpRequest(port: adminPort, "GET", "/status").status == 200)

        // One startup names the process it replaced; the old one recorded no stop of its own.
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.count ?? 0) == 2 })
        let startup = try #require(try store.events(EventQuery(kinds: [.startup])).last)
        #expect(startup.data?.replacedPID == Int(old.process.processIdentifier))
        #expect(startup.detail?.contains("previous_stop=handover replaced_pid=\(old.process.processIdentifier)") == true,
                "\(startup.detail ?? "")")
        #expect(try store.events(EventQuery(kinds: [.shutdown])).isEmpty)
        let instances = try store.instances()
        #expect(instances.count == 1)
        #expect(instances.first?.identity.pid == Int(new.process.processIdentifier))
        #expect(instances.first?.stoppedAt == nil)
        #expect(old.stderr.contains("stopped after handing over"), "\(old.stderr)")

        // The control socket is the new daemon's now: it answers a reload, and hands over again.
        let reload = try runProduct("lbserver", ["reload", "--db", folder.database], folder: folder.url)
        #expect(reload.status == 0, "\(reload.stderr)")
        new.signal(SIGTERM)
        #expect(new.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: folder.database + ".control"),
                "a daemon that stops removes its control socket")
    }

    @Test func aReplacementThatCannotStartLeavesTheRunningDaemonServing() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        let old = try ServerProcess(lbserver: ["--backends", a.url, "--db", folder.database], folder: folder.url)
        defer { old.stop() }
        let port = try old.waitUntilListening()
        // It gets the sockets, then fails on its access log before serving.
        let failed = try runProduct("lbserver", ["--db", folder.database, "--listen", "127.0.0.1:\(port)", "--replace",
                                                 "--access-log", folder.url.path + "/missing/access.log"],
                                    folder: folder.url)
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(waitUntil { old.stderr.contains("the new lbserver did not take over; serving on as before") },
                "\(old.stderr)")
        #expect(try httpRequest(port: port).text == "a")
        #expect(old.process.isRunning)
        // And it can still hand over once asked again.
        let new = try ServerProcess(lbserver: ["--db", folder.database, "--listen", "127.0.0.1:\(port)", "--replace"],
                                    folder: folder.url)
        defer { new.stop() }
        #expect(try new.waitUntilListening() == port)
        #expect(old.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try httpRequest(port: port).text == "a")
    }

    @Test func anAdminPortTheReplacementDoesNotHaveIsClosedNotLeftHanging() throws {
        let folder = try TemporaryFolder()
        let old = try ServerProcess(lbserver: ["--db", folder.database, "--admin", "127.0.0.1:0"], folder: folder.url)
        defer { old.stop() }
        let port = try old.waitUntilListening()
        let adminPort = old.adminPort
        let new = try ServerProcess(lbserver: ["--db", folder.database, "--listen", "127.0.0.1:\(port)", "--replace"],
                                    folder: folder.url)
        defer { new.stop() }
        try new.waitUntilListening()
        #expect(old.waitForExit(timeout: .seconds(30)) == 0)
        // Nobody holds the old admin socket: a connection is refused, not queued for ever.
        #expect(throws: TestClientError.self) { try HTTPTestConnection(port: adminPort, timeoutSeconds: 2) }
    }

    @Test func replaceWithNothingRunningStartsAsUsual() throws {
        let folder = try TemporaryFolder()
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--replace"], folder: folder.url)
        defer { server.stop() }
        try server.waitUntilListening()
        #expect(server.stderr.contains("no lbserver answers on the control socket; starting as usual"), "\(server.stderr)")
        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.startup])))?.first?.detail ?? "").contains("previous_stop=first start") })
    }

    @Test func reloadExitsWithTheDaemonsVerdictAndRecordsIt() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        try "backends:\n  - \(a.url)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()

        // Nothing answers on another database's control socket.
        let nobody = try runProduct("lbserver", ["reload", "--db", folder.url.path + "/other.sqlite3"], folder: folder.url)
        #expect(nobody.status == 69, "\(nobody.stderr)")

        // A broken file: refused before the daemon is asked (65), and, asked anyway (no --config
        // to check here), refused by the daemon (65 again), which keeps serving.
        try "backends:\n  - \(a.url)\n  bad: [\n".write(toFile: config, atomically: true, encoding: .utf8)
        let checked = try runProduct("lbserver", ["reload", "--config", config, "--db", folder.database], folder: folder.url)
        #expect(checked.status == 65, "\(checked.stderr)")
        #expect(checked.stderr.contains("the running daemon was not asked"), "\(checked.stderr)")
        let refused = try runProduct("lbserver", ["reload", "--db", folder.database], folder: folder.url)
        #expect(refused.status == 65, "\(refused.stderr)")
        #expect(refused.stderr.contains("reload refused, the running configuration stays: \(config):"), "\(refused.stderr)")
        #expect(try httpRequest(port: port).text == "a")

        // A good file: applied, and the answer says what changed.
        try "backends:\n  - \(a.url)\n  - \(b.url)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let applied = try runProduct("lbserver", ["reload", "--config", config, "--db", folder.database], folder: folder.url)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("applied added:\(b.url)"), "\(applied.stdout)")
        #expect(waitUntil { (try? httpRequest(port: port).text) == "b" })

        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.reload])))?.count ?? 0) == 2 })
        let reloads = try store.events(EventQuery(kinds: [.reload]))
        #expect(reloads.map { $0.data?.outcome } == ["refused", "ok"])
        #expect(reloads[0].data?.reason?.hasPrefix(config) == true, "\(reloads[0].data?.reason ?? "")")
        #expect(reloads[1].data?.applied == ["added:\(b.url)"])
    }

    @Test func reloadRestartsByHandoverIntoTheBinaryNowInstalledAndForSettingsThatNeedIt() throws {
        let folder = try TemporaryFolder()
        let a = try TestBackend(name: "a", group: group)
        defer { a.stop() }
        // The daemon runs from a path of its own, where an "upgrade" is installed later.
        let installed = folder.url.appendingPathComponent("bin/lbserver").path
        try FileManager.default.createDirectory(atPath: folder.url.appendingPathComponent("bin").path,
                                                withIntermediateDirectories: true)
        let real = ServerProcess.productsFolder.appendingPathComponent("lbserver").path
        try FileManager.default.copyItem(atPath: real, toPath: installed)
        let config = folder.url.appendingPathComponent("lb.yaml").path
        try "backends:\n  - \(a.url)\nthreads: 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let old = try ServerProcess(lbserver: ["--config", config, "--db", folder.database], folder: folder.url,
                                    executable: installed)
        defer { old.stop() }
        let port = try old.waitUntilListening()
        var successors: [Int32] = []
        defer { for pid in successors { kill(pid, SIGKILL) } }

        let load = RequestLoad(port: port)
        defer { load.stop() }
        #expect(waitUntil(timeout: .seconds(20)) { load.answeredCount >= 300 })
        // The new binary: a program at the same path that leaves a mark and runs lbserver.
        let mark = folder.url.appendingPathComponent("upgraded").path
        try FileManager.default.removeItem(atPath: installed)
        try "#!/bin/sh\necho $$ >> \(mark)\nexec \(real) \"$@\"\n".write(toFile: installed, atomically: true, encoding: .utf8)
        chmod(installed, 0o755)
        let upgrade = try runProduct("lbserver", ["reload", "--upgrade", "--config", config, "--db", folder.database],
                                     folder: folder.url)
        #expect(upgrade.status == 0, "\(upgrade.stderr)")
        let restarted = try #require(upgrade.stdout.split(separator: " ").last.flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) },
                                     "\(upgrade.stdout)")
        successors.append(restarted)
        #expect(upgrade.stdout.contains("restarted by handover as pid"), "\(upgrade.stdout)")
        #expect(old.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try String(contentsOfFile: mark, encoding: .utf8).contains(String(restarted)), "the installed program ran")
        let afterUpgrade = load.answeredCount
        #expect(waitUntil(timeout: .seconds(20)) { load.answeredCount >= afterUpgrade + 300 })

        // A setting that needs a new process: the reload restarts by itself, and says so.
        try "backends:\n  - \(a.url)\nthreads: 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let threads = try runProduct("lbserver", ["reload", "--config", config, "--db", folder.database], folder: folder.url)
        #expect(threads.status == 0, "\(threads.stderr)\n\(old.stderr)")
        #expect(threads.stdout.contains("by a restart threads; restarted by handover as pid"), "\(threads.stdout)")
        if let pid = threads.stdout.split(separator: " ").last.flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
            successors.append(pid)
        }
        #expect(waitUntil { kill(restarted, 0) != 0 }, "the upgraded daemon drained and exited")
        let afterRestart = load.answeredCount
        #expect(waitUntil(timeout: .seconds(20)) { load.answeredCount >= afterRestart + 300 }, "\(old.stderr)")
        load.stop()
        #expect(load.failureList.isEmpty, "\(load.failureList.count) failed: \(load.failureList.prefix(5))")

        let store = try Store(path: folder.database, mode: .existing)
        #expect(waitUntil { ((try? store.events(EventQuery(kinds: [.reload])))?.count ?? 0) == 2 })
        let reloads = try store.events(EventQuery(kinds: [.reload]))
        #expect(reloads.map { $0.data?.restartedPID } == successors.map { Int($0) })
        #expect(reloads.last?.data?.needsRestart == ["threads"])
        #expect(try store.events(EventQuery(kinds: [.startup])).count == 3)
        #expect(try store.events(EventQuery(kinds: [.shutdown])).isEmpty)
    }
}
