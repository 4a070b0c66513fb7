import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `lbserver respond`: a tiny HTTP server that answers every request with a fixed body, for
/// demos and for trying the balancer without real backends. Runs until SIGTERM or SIGINT.
struct RespondCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "respond",
        abstract: "Answer every HTTP request with a fixed status and body (a stand-in backend).")

    @Option(help: ArgumentHelp("Address to listen on, HOST:PORT (port 0: the OS chooses).", valueName: "host:port"),
            transform: Self.address)
    var listen = HostAndPort(host: "127.0.0.1", port: 0)

    // Optional, with the default said in words: ArgumentParser would print "ok\n"'s newline raw
    // into the help.
    @Option(help: ArgumentHelp("Response body (default: ok and a newline).", valueName: "text"))
    var body: String?

    @Option(help: ArgumentHelp("Response status code.", valueName: "code"))
    var status: Int = 200

    mutating func run() async throws {
        guard (100...599).contains(status) else { throw ValidationError("--status must be 100-599") }
        let (host, port) = (listen.host, listen.port)
        let channel: Channel
        do {
            channel = try await StaticResponder.bind(host: host, port: port, status: HTTPResponseStatus(statusCode: status),
                                                     body: body ?? "ok\n", group: MultiThreadedEventLoopGroup.singleton)
        } catch {
            FileHandle.standardError.write(Data("lbserver respond: cannot listen on \(listen): \(error)\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(Data("lbserver respond listening on \(host):\(channel.localAddress?.port ?? port)\n".utf8))
        let signals = [SIGTERM, SIGINT].map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler { channel.close(promise: nil) }
            Foundation.signal(signal, SIG_IGN)
            source.resume()
            return source
        }
        try await channel.closeFuture.get()
        signals.forEach { $0.cancel() }
    }

    /// `--listen`, read by the daemon's own HOST:PORT parser.
    @Sendable private static func address(_ text: String) throws(ConfigurationError) -> HostAndPort {
        do {
            return try HostAndPort(settingText: text)
        } catch {
            throw ConfigurationError(flag: "--listen", problem: error)
        }
    }
}
