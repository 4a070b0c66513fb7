import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// `Upgrade` requests (WebSocket and the like) through the real daemon: a backend's `101` turns
/// the client's connection into a tunnel to that backend.
@Suite(.serialized) struct UpgradeEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A backend that answers an Upgrade request with `101` and a greeting in the same packet, then
    /// echoes every byte back; any other request gets `426`. It records the request heads.
    final class UpgradeBackend: @unchecked Sendable {
        // @unchecked Sendable: `heads` is guarded by `lock`.
        private let lock = NIOLock()
        private var heads: [String] = []
        private var channel: Channel?
        var seenHeads: [String] { lock.withLock { heads } }
        let port: Int
        var url: String { "http://127.0.0.1:\(port)" }

        init(group: EventLoopGroup) throws {
            let box = NIOLockedValueBox<UpgradeBackend?>(nil)
            let server = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Handler(record: { head in
                            box.withLockedValue { $0 }?.record(head)
                        }))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
            port = server.localAddress?.port ?? 0
            channel = server
            box.withLockedValue { $0 = self }
        }

        private func record(_ head: String) { lock.withLock { heads.append(head) } }

        func stop() { try? channel?.close().wait() }

        private final class Handler: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let record: (String) -> Void
            var pending = ""
            var upgraded = false
            init(record: @escaping (String) -> Void) { self.record = record }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let buffer = unwrapInboundIn(data)
                if upgraded {
                    context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                    return
                }
                pending += String(buffer: buffer)
                guard let end = pending.range(of: "\r\n\r\n") else { return }
                let head = String(pending[..<end.lowerBound])
                record(head)
                let rest = String(pending[end.upperBound...])
                pending = ""
                if head.lowercased().contains("\r\nupgrade: echo") {
                    upgraded = true
                    let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello from echo\n"
                    context.write(wrapOutboundOut(context.channel.allocator.buffer(string: answer)), promise: nil)
                    if !rest.isEmpty {
                        context.write(wrapOutboundOut(context.channel.allocator.buffer(string: rest)), promise: nil)
                    }
                    context.flush()
                } else {
                    let answer = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"
                    context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: answer)), promise: nil)
                }
            }
        }
    }

    @Test func aWebSocketStyleUpgradeBecomesATunnelToTheBackend() throws {
        let folder = try TemporaryFolder()
        let echo = try UpgradeBackend(group: group)
        defer { echo.stop() }
        let server = try ServerProcess(lbserver: ["--backends", echo.url, "--db", folder.database,
                                                  "--admin", "127.0.0.1:0", "--response-timeout", "1s",
                                                  "--upgrade-protocols", "websocket,echo"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        try connection.send("GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        let head = try connection.readHead()
        #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
        #expect(head.lowercased().contains("upgrade: echo"))
        #expect(head.lowercased().contains("connection: upgrade"))
        // What the backend sent right after its 101 arrives too.
        #expect(String(decoding: try connection.readBytes(16), as: UTF8.self) == "hello from echo\n")
        let forwarded = try #require(echo.seenHeads.first).lowercased()
        #expect(forwarded.contains("\r\nupgrade: echo") && forwarded.contains("\r\nconnection: upgrade"))
        #expect(forwarded.contains("\r\nx-request-id: "))

        // Bytes that are not HTTP go both ways, in order, past the response timeout.
        let frame = Array("\u{81}\u{05}hello, not HTTP at all\r\n\r\nGET / HTTP/1.1\r\n".utf8)
        try connection.send(frame)
        #expect(try connection.readBytes(frame.count) == frame)
        Thread.sleep(forTimeInterval: 1.5)
        let big = largeBody(300_000)
        try connection.send(big)
        #expect(try connection.readBytes(big.count) == big)

        // While open, it is a client connection; when the client leaves, the tunnel closes.
        let metrics = try httpRequest(port: server.adminPort, "GET", "/metrics").text
        #expect(metrics.contains("lb_http_responses_total{code=\"1xx\"} 1"))
        connection.hangUp()
        #expect(waitUntil {
            guard let text = try? httpRequest(port: server.adminPort, "GET", "/metrics").text else { return false }
            return text.contains("lb_client_connections 0")
        })
    }

    @Test func anUpgradeTheBackendRefusesIsAnsweredAndTheConnectionClosed() throws {
        let folder = try TemporaryFolder()
        let echo = try UpgradeBackend(group: group)
        defer { echo.stop() }
        let server = try ServerProcess(lbserver: ["--backends", echo.url, "--db", folder.database,
                                                  "--upgrade-protocols", "smtp"], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let connection = try HTTPTestConnection(port: port)
        let response = try connection.request("GET", "/chat", headers: [("Connection", "Upgrade"), ("Upgrade", "smtp")])
        #expect(response.status == 426)
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(connection.isClosedByPeer())
        // A plain request still works, on a new connection.
        #expect(try httpRequest(port: port).status == 426)
    }

    @Test func anH2CUpgradeIsNeverTunnelledAndTheRequestIsServedAsPlainHTTP11() throws {
        let folder = try TemporaryFolder()
        let echo = try UpgradeBackend(group: group)
        defer { echo.stop() }
        // Even listed, h2c is refused at start-up...
        let refused = try ServerProcess(lbserver: ["--backends", echo.url, "--db", folder.database,
                                                   "--upgrade-protocols", "websocket,h2c"], folder: folder.url)
        #expect(refused.waitForExit() == 64)
        // ...and offered by a client, it is dropped: the backend sees a plain request.
        let server = try ServerProcess(lbserver: ["--backends", echo.url, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let connection = try HTTPTestConnection(port: try server.waitUntilListening())
        for _ in 0..<2 {
            let response = try connection.request("GET", "/", headers: [
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQAAP__"),
            ])
            #expect(response.status == 426)
            #expect(response.header("connection") == nil)
        }
        let forwarded = echo.seenHeads.map { $0.lowercased() }
        #expect(forwarded.count == 2)
        #expect(forwarded.allSatisfy { !$0.contains("upgrade") && !$0.contains("http2-settings") })
    }

    @Test func aTunnelInWhichNothingMovesForItsIdleTimeoutIsClosed() throws {
        let folder = try TemporaryFolder()
        let echo = try UpgradeBackend(group: group)
        defer { echo.stop() }
        let server = try ServerProcess(lbserver: ["--backends", echo.url, "--db", folder.database,
                                                  "--upgrade-protocols", "echo", "--tunnel-idle-timeout", "2s"],
                                       folder: folder.url)
        defer { server.stop() }
        let connection = try HTTPTestConnection(port: try server.waitUntilListening(), timeoutSeconds: 5)
        try connection.send("GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        #expect(try connection.readHead().hasPrefix("HTTP/1.1 101"))
        #expect(String(decoding: try connection.readBytes(16), as: UTF8.self) == "hello from echo\n")
        // Traffic within the timeout keeps it open...
        // (4 s of pings 0.8 s apart, twice the timeout in all)...
        for _ in 0..<5 {
            Thread.sleep(forTimeInterval: 0.8)
            try connection.send("ping")
            #expect(String(decoding: try connection.readBytes(4), as: UTF8.self) == "ping")
        }
        // ...and two seconds of silence close it.
        let started = Date()
        #expect(connection.isClosedByPeer())
        #expect(Date().timeIntervalSince(started) >= 1.0)
    }
}
