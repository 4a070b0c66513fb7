import ArgumentParser
import Foundation
import NIOCore

/// `lbserver reload`: checks the configuration file, asks the running daemon (on its control
/// socket) to read its configuration again, waits for its answer, and exits with it: 0 when the
/// daemon applied the new configuration, 65 when the file is bad (checked here first, or refused
/// by the daemon), 1 when the daemon refused it for another reason (a certificate it cannot use,
/// a database it cannot write), 69 when no daemon answers. Made for systemd's `ExecReload=`, so
/// that `systemctl reload` fails when the reload did.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running lbserver read its configuration again; exit non-zero if it refused.",
        discussion: """
            The daemon is found on its control socket: give the same --config, --db, --instance, \
            --outbox or --control-socket it was started with. The daemon reads the file it was started \
            with; --config here is checked first, so give the same path. The outcome is recorded in \
            the database as a reload event. Exit status: 0 applied, 65 bad configuration file, \
            1 refused for another reason, 69 no lbserver answers on the control socket.
            """)

    @Option(help: ArgumentHelp("The daemon's YAML config file, checked before the daemon is asked.", valueName: "file"))
    var config: String?

    @OptionGroup(title: "Finding the daemon") var database: DatabaseOptions

    @Flag(help: ArgumentHelp(
        "Also restart by handover, for a new binary: the program now at the daemon's path takes over with the "
            + "same arguments, and the daemon drains. Without it, a restart happens only when a changed setting "
            + "needs one (listen, threads, database, ...)."))
    var upgrade = false

    @Flag(help: "Apply only what can be applied in place; name the settings that need a restart.")
    var noRestart = false

    @Option(help: ArgumentHelp("How long to wait for the daemon's answer (60s, 2m).", valueName: "duration"))
    var timeout = "6m"

    func run() async throws {
        var configuration = ServerConfiguration.defaults()
        if let config {
            do {
                try ConfigFile.load(path: config, into: &configuration)
            } catch {
                Self.fail("\(error.description) (the running daemon was not asked)")
                throw ExitCode(65)
            }
        }
        database.apply(to: &configuration)
        let path = configuration.controlSocketPath
        let wait: TimeAmount
        do {
            wait = try TimeAmount(settingText: timeout, atLeast: .milliseconds(1))
        } catch {
            throw ValidationError("--timeout: \(error.message(subject: "--timeout", isFlag: true))")
        }
        let timeoutMilliseconds = Int(wait.nanoseconds / 1_000_000)
        let answer: ControlMessage
        do {
            let connection = try UnixStreamSocket.connect(path: path, timeoutMilliseconds: timeoutMilliseconds)
            defer { connection.close() }
            let restart: RestartPolicy = upgrade ? .always : noRestart ? .never : .whenNeeded
            try connection.send(ControlMessage("reload", [("restart", restart.rawValue)]).line)
            guard let line = try connection.receiveLine()?.line else {
                throw ControlSocketError("the daemon closed the control socket without an answer")
            }
            answer = ControlMessage(parsing: line)
        } catch {
            Self.fail("no running lbserver answered on \(path): \(error)")
            throw ExitCode(69)
        }
        switch answer.verb {
        case "ok":
            let applied = answer["applied"].flatMap { $0.isEmpty ? nil : $0 } ?? "nothing changed"
            var text = "lbserver reloaded: applied \(applied.replacingOccurrences(of: ",", with: ", "))"
            let later = answer["needs_restart"] ?? ""
            if let restarted = answer["restarted"], !restarted.isEmpty {
                text += later.isEmpty ? "" : ", and by a restart \(later.replacingOccurrences(of: ",", with: ", "))"
                text += "; restarted by handover as pid \(restarted)"
            } else if !later.isEmpty {
                text += "; not applied, needs a restart (lbserver reload without --no-restart): "
                    + later.replacingOccurrences(of: ",", with: ", ")
            }
            print(text)
        default:
            let reason = answer["reason"] ?? "no reason given"
            Self.fail("reload refused, the running configuration stays: \(reason)")
            // The daemon's own reading of the file failed: the same status as a bad file here.
            throw ExitCode(answer["file_error"] == "true" ? 65 : 1)
        }
    }

    private static func fail(_ message: String) {
        FileHandle.standardError.write(Data("lbserver: \(message)\n".utf8))
    }
}
