import Foundation
import NIOCore
import NIOPosix
import Testing

/// The known HTTP/2 attacks against the real daemon (h2c, frames written by hand): each is cut
/// off with a GOAWAY and a close, reaches the backends at most a bounded number of times, and
/// leaves the daemon serving everyone else.
@Suite(.serialized) struct HTTP2LimitsEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton
    typealias Client = RawHTTP2Client

    private func withServer(_ body: (_ port: Int, _ backend: TestBackend) throws -> Void) throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "one", group: group)
        defer { backend.stop() }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        try body(port, backend)
        // Everyone else is still served.
        #expect(try httpRequest(port: port).text == "one")
        #expect(server.process.isRunning)
    }

    /// CVE-2023-44487: streams opened and reset at once, a thousand of them.
    @Test func rapidResetIsCutOff() throws {
        try withServer { port, backend in
            let client = try Client(port: port)
            var burst: [UInt8] = []
            for index in 0..<1_000 {
                let stream = UInt32(2 * index + 1)
                burst += Client.frame(.headers, flags: 0x5, stream: stream, Client.getBlock)  // END_STREAM | END_HEADERS
                burst += Client.frame(.rstStream, flags: 0, stream: stream, [0, 0, 0, 8])  // CANCEL
            }
            client.send(burst)
            let (frames, closed) = client.readFrames()
            #expect(Client.goawayCode(frames) == 0xb, "ENHANCE_YOUR_CALM expected: \(frames.map(\.type))")
            #expect(closed)
            #expect(backend.requests < 1_000, "\(backend.requests) of the reset requests reached the backend")
        }
    }

    /// CVE-2024-27316: a header block that never ends, in CONTINUATION frames.
    @Test func continuationFloodIsCutOff() throws {
        try withServer { port, backend in
            let client = try Client(port: port)
            var burst = Client.frame(.headers, flags: 0x1, stream: 1, Client.getBlock)  // END_STREAM, no END_HEADERS
            for _ in 0..<1_000 {
                burst += Client.frame(.continuation, flags: 0, stream: 1, Client.literal("x-a", "b"))
            }
            client.send(burst)
            let (frames, closed) = client.readFrames()
            #expect(Client.goawayCode(frames) != nil, "\(frames.map(\.type))")
            #expect(closed)
            #expect(backend.requests == 0)
        }
    }

    /// PING and SETTINGS floods: control frames past the rate limit end the connection.
    @Test(arguments: ["ping", "settings"])
    func controlFrameFloodIsCutOff(kind: String) throws {
        try withServer { port, _ in
            let client = try Client(port: port)
            var burst: [UInt8] = []
            for index in 0..<1_000 {
                burst += kind == "ping"
                    ? Client.frame(.ping, flags: 0, stream: 0, (0..<8).map { UInt8(truncatingIfNeeded: index >> $0) })
                    : Client.frame(.settings, flags: 0, stream: 0, [])
            }
            client.send(burst)
            let (frames, closed) = client.readFrames()
            #expect(Client.goawayCode(frames) == 0xb, "ENHANCE_YOUR_CALM expected: \(frames.map(\.type))")
            #expect(closed)
            #expect(frames.filter { $0.type == Client.FrameType.ping.rawValue }.count < 1_000)
        }
    }

    /// A header list over the advertised 32 KiB never reaches a backend.
    @Test func anOversizedHeaderListIsRefused() throws {
        try withServer { port, backend in
            let client = try Client(port: port)
            let block = Client.getBlock + Client.literal("x-big", String(repeating: "a", count: 40_000))
            var burst = Client.frame(.headers, flags: 0x1, stream: 1, Array(block[0..<15_000]))
            burst += Client.frame(.continuation, flags: 0, stream: 1, Array(block[15_000..<30_000]))
            burst += Client.frame(.continuation, flags: 0x4, stream: 1, Array(block[30_000...]))
            client.send(burst)
            let (frames, _) = client.readFrames(seconds: 2)
            let refused = Client.goawayCode(frames) != nil
                || frames.contains { $0.type == Client.FrameType.rstStream.rawValue }
                || frames.contains { $0.type == Client.FrameType.headers.rawValue && $0.stream == 1 }
            #expect(refused, "\(frames.map(\.type))")
            #expect(backend.requests == 0)
        }
    }

    /// At most 100 streams at once: 100 open streams are fine, the 101st ends the connection
    /// (swift-nio-http2 treats the excess as a connection error: GOAWAY PROTOCOL_ERROR).
    @Test func streamsBeyondTheConcurrencyLimitAreRefused() throws {
        try withServer { port, _ in
            let client = try Client(port: port)
            // The server's SETTINGS first, then their acknowledgement, so its limit is in force.
            let settings = client.readFrames(seconds: 1).frames
            #expect(settings.first?.type == Client.FrameType.settings.rawValue)
            func open(_ index: Int) -> [UInt8] {
                // `:method POST`, END_HEADERS without END_STREAM: a request waiting for its body.
                Client.frame(.headers, flags: 0x4, stream: UInt32(2 * index + 1),
                             [0x83, 0x86, 0x84, 0x41, 9] + Array("127.0.0.1".utf8))
            }
            client.send(Client.frame(.settings, flags: 0x1, stream: 0, []) + (0..<100).flatMap(open))
            let hundred = client.readFrames(seconds: 1)
            #expect(Client.goawayCode(hundred.frames) == nil && !hundred.closed, "\(hundred.frames.map(\.type))")
            client.send(open(100))
            let (frames, closed) = client.readFrames()
            #expect(Client.goawayCode(frames) == 0x1, "\(frames.map { ($0.type, $0.stream) })")
            #expect(closed)
        }
    }

    /// SIGTERM with a stream in flight: the client is told GOAWAY, the stream's answer still
    /// arrives, then the connection closes and the daemon exits cleanly.
    @Test func aStopSendsGoawayAndLetsTheOpenStreamFinish() throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "slow", behaviour: .serve(delay: .milliseconds(800)), group: group)
        defer { backend.stop() }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        let client = try Client(port: port)
        client.send(Client.frame(.headers, flags: 0x5, stream: 1, Client.getBlock))
        #expect(waitUntil { backend.requests == 1 })
        server.signal(SIGTERM)
        // The graceful GOAWAY comes with a PING, whose acknowledgement lets the server send its
        // final GOAWAY: a client answers it, as curl does.
        var (frames, closed) = client.readFrames(seconds: 2)
        for ping in frames where ping.type == Client.FrameType.ping.rawValue && ping.flags & 0x1 == 0 {
            client.send(Client.frame(.ping, flags: 0x1, stream: 0, ping.payload))
        }
        if !closed {
            let more = client.readFrames()
            frames += more.frames
            closed = more.closed
        }
        #expect(Client.goawayCode(frames) == 0, "\(frames.map { ($0.type, $0.stream) })")
        #expect(frames.contains { $0.type == Client.FrameType.headers.rawValue && $0.stream == 1 })
        #expect(frames.contains { $0.type == Client.FrameType.data.rawValue && $0.stream == 1 && $0.flags & 0x1 != 0 })
        #expect(closed)
        #expect(server.waitForExit() == 0)
    }

    /// A client that says GOAWAY with no stream open gets the connection closed (h2load's timed
    /// runs wait for that).
    @Test func aClientsGoawayClosesTheConnectionOnceNoStreamIsOpen() throws {
        try withServer { port, _ in
            let client = try Client(port: port)
            client.send(Client.frame(.headers, flags: 0x5, stream: 1, Client.getBlock))
            let answered = client.readFrames(seconds: 1)
            #expect(answered.frames.contains { $0.type == Client.FrameType.headers.rawValue && $0.stream == 1 })
            client.send(Client.frame(.goaway, flags: 0, stream: 0, [0, 0, 0, 1, 0, 0, 0, 0]))
            #expect(client.readFrames().closed)
        }
    }
}
