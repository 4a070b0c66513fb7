import Foundation
import NIOPosix
import Testing
@testable import LBServer

/// How an HTTP/2 stream becomes the HTTP/1.1 request a backend gets, and its answer the stream's
/// frames: body framing, cookie crumbs, `Host`, field values HTTP/1.1 could be split on, trailers.
/// Frames are written by hand (h2c with prior knowledge) so each case is exactly what a client
/// may send; answers are read with swift-nio-http2's HPACK decoder.
@Suite(.serialized) struct HTTP2StreamEndToEndTests {
    let group = MultiThreadedEventLoopGroup.singleton
    typealias Client = RawHTTP2Client

    private func headers(_ method: String, _ path: String, _ extra: [(String, String)] = [],
                         authority: String = "127.0.0.1") -> [UInt8] {
        Client.block([(":method", method), (":scheme", "http"), (":path", path), (":authority", authority)] + extra)
    }

    /// lbserver in front of one `TestBackend`, and a raw HTTP/2 client connected to it.
    private func withProxy(_ behaviour: TestBackend.Behaviour = .serve(delay: .zero), flags: [String] = [],
                           _ body: (Client, TestBackend) throws -> Void) throws {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "one", behaviour: behaviour, group: group)
        defer { backend.stop() }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", backend.url] + flags,
                                       folder: folder.url)
        defer { server.stop() }
        try body(try Client(port: try server.waitUntilListening()), backend)
    }

    private static let endStream: UInt8 = 0x1
    private static let endHeaders: UInt8 = 0x4

    /// A body the client sends in several frames without a length goes chunked; one that comes in
    /// a single frame gets its length; an empty frame that ends the stream adds no framing.
    @Test func requestBodiesAreFramedByWhatTheClientSent() throws {
        try withProxy { client, backend in
            var bytes: [UInt8] = []
            bytes += Client.frame(.headers, flags: Self.endHeaders, stream: 1, headers("POST", "/parts"))
            bytes += Client.frame(.data, flags: 0, stream: 1, Array("abc".utf8))
            bytes += Client.frame(.data, flags: Self.endStream, stream: 1, Array("de".utf8))
            bytes += Client.frame(.headers, flags: Self.endHeaders, stream: 3, headers("POST", "/one"))
            bytes += Client.frame(.data, flags: Self.endStream, stream: 3, Array("xyz".utf8))
            bytes += Client.frame(.headers, flags: Self.endHeaders, stream: 5, headers("GET", "/empty"))
            bytes += Client.frame(.data, flags: Self.endStream, stream: 5, [])
            bytes += Client.frame(.headers, flags: Self.endHeaders, stream: 7,
                                  headers("PUT", "/declared", [("content-length", "4")]))
            bytes += Client.frame(.data, flags: 0, stream: 7, Array("wx".utf8))
            bytes += Client.frame(.data, flags: Self.endStream, stream: 7, Array("yz".utf8))
            client.send(bytes)
            let answers = try client.readAnswers(streams: [1, 3, 5, 7])

            func seen(_ stream: UInt32) -> (status: String?, bodyBytes: String?, names: [Substring]) {
                let answer = answers[stream]
                return (answer?.field(":status"), answer?.field("x-seen-body-bytes"),
                        answer?.field("x-seen-header-names")?.split(separator: ",") ?? [])
            }
            #expect(seen(1).status == "200" && seen(1).bodyBytes == "5")
            #expect(seen(1).names.contains("transfer-encoding") && !seen(1).names.contains("content-length"), "\(seen(1))")
            #expect(seen(3).status == "200" && seen(3).bodyBytes == "3")
            #expect(seen(3).names.contains("content-length") && !seen(3).names.contains("transfer-encoding"), "\(seen(3))")
            #expect(seen(5).status == "200" && seen(5).bodyBytes == "0")
            #expect(!seen(5).names.contains("content-length") && !seen(5).names.contains("transfer-encoding"), "\(seen(5))")
            #expect(seen(7).status == "200" && seen(7).bodyBytes == "4")
            #expect(seen(7).names.filter { $0 == "content-length" }.count == 1 && !seen(7).names.contains("transfer-encoding"))
            for stream: UInt32 in [1, 3, 5, 7] {
                #expect(answers[stream]?.body == Array("one".utf8) && answers[stream]?.ended == true)
                // The answer carries no HTTP/1.1-only field (RFC 9113 §8.2.2).
                #expect(answers[stream]?.field("connection") == nil && answers[stream]?.field("keep-alive") == nil)
            }
        }
    }

    /// Cookie crumbs (RFC 9113 §8.2.3) reach the backend as one `Cookie` field; `:authority` is the
    /// `Host`; a `Host` that names another authority beside it is refused, as two `Host` fields are.
    @Test func cookiesAreJoinedAndTheAuthorityIsTheHost() throws {
        try withProxy { client, backend in
            var bytes: [UInt8] = []
            bytes += Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 1,
                                  headers("GET", "/c", [("cookie", "a=1"), ("accept", "*/*"), ("cookie", "b=2")],
                                          authority: "shop.example:8443"))
            bytes += Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 3,
                                  headers("GET", "/same", [("host", "127.0.0.1")]))
            bytes += Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 5,
                                  headers("GET", "/other", [("host", "evil.example")]))
            client.send(bytes)
            let answers = try client.readAnswers(streams: [1, 3, 5])
            #expect(answers[1]?.field(":status") == "200")
            #expect(answers[1]?.field("x-seen-cookie") == "a=1; b=2", "\(answers[1]?.headerBlocks ?? [])")
            #expect(answers[1]?.field("x-seen-host") == "shop.example:8443")
            #expect(answers[3]?.field(":status") == "200" && answers[3]?.field("x-seen-host") == "127.0.0.1")
            #expect(answers[5]?.field(":status") == "400", "\(answers[5]?.headerBlocks ?? [])")
            #expect(backend.requests == 2)
        }
    }

    /// A field value with CR or LF would split the HTTP/1.1 request it becomes; the stream is
    /// refused (RFC 9113 §8.2.1) and the backend sees nothing. Other streams carry on.
    @Test func aFieldValueWithALineBreakNeverReachesTheBackend() throws {
        try withProxy { client, backend in
            var bytes: [UInt8] = []
            bytes += Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 1,
                                  headers("GET", "/a", [("x-smuggle", "1\r\n\r\nGET /admin HTTP/1.1\r\nhost: x")]))
            bytes += Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 3,
                                  headers("GET", "/b", [("x-other", "ok\ninjected: yes")]))
            bytes += Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 5, headers("GET", "/fine"))
            client.send(bytes)
            let answers = try client.readAnswers(streams: [1, 3, 5])
            #expect(answers[1]?.resetCode == 1 && answers[1]?.field(":status") == nil, "\(String(describing: answers[1]))")
            #expect(answers[3]?.resetCode == 1 && answers[3]?.field(":status") == nil, "\(answers)")
            #expect(answers[5]?.field(":status") == "200" && answers[5]?.field("x-seen-uri") == "/fine")
            #expect(backend.requests == 1)
        }
    }

    /// A stream whose head never completes (HEADERS without the stream's end, then nothing) is
    /// answered 408 after the header timeout, as a slow HTTP/1.1 head is; one whose head came at
    /// once is not held to it.
    @Test func aStreamThatNeverCompletesItsRequestGets408() throws {
        try withProxy(flags: ["--header-timeout", "1s"]) { client, backend in
            client.send(Client.frame(.headers, flags: Self.endHeaders, stream: 1, headers("POST", "/stalled")))
            client.send(Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 3, headers("GET", "/fine")))
            let started = Date()
            let answers = try client.readAnswers(streams: [1, 3], seconds: 8)
            #expect(answers[3]?.field(":status") == "200")
            #expect(answers[1]?.field(":status") == "408", "\(String(describing: answers[1]))")
            #expect(Date().timeIntervalSince(started) >= 0.9)
            #expect(backend.requests == 1)
        }
    }

    /// A backend's chunked answer reaches the client as DATA without the chunk framing, and its
    /// trailers as a trailing header block that ends the stream.
    @Test func aChunkedAnswerKeepsItsTrailers() throws {
        try withProxy(.raw(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nX-Kept: yes\r\n\r\n"
                + "5\r\nhello\r\n6\r\n world\r\n0\r\nGrpc-Status: 0\r\nX-Digest: abc\r\n\r\n")) { client, _ in
            client.send(Client.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: 1, headers("GET", "/t")))
            let answer = try #require(try client.readAnswers(streams: [1])[1])
            #expect(answer.field(":status") == "200" && answer.field("x-kept") == "yes")
            #expect(answer.field("transfer-encoding") == nil && answer.field("connection") == nil)
            #expect(String(decoding: answer.body, as: UTF8.self) == "hello world")
            #expect(answer.headerBlocks.count == 2 && answer.ended)
            let trailers = answer.headerBlocks.last ?? []
            #expect(trailers.map(\.name) == ["grpc-status", "x-digest"] && trailers.map(\.value) == ["0", "abc"], "\(trailers)")
        }
    }

    // MARK: Back-pressure through one stream

    /// lbserver's resident memory, in bytes.
    private static func residentBytes(_ server: ServerProcess) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// Runs `command` (a shell line that ends by itself within `seconds`), sampling lbserver's
    /// resident memory every 50 ms; returns the most it grew by over its memory before the run,
    /// and what the command printed.
    private static func growth(of server: ServerProcess, while command: String, seconds: Double,
                               folder: URL) throws -> (bytes: Int, output: String) {
        let before = residentBytes(server)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = folder
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        var peak = before
        let deadline = Date().addingTimeInterval(seconds + 5)
        while Date() < deadline && process.isRunning {
            peak = max(peak, residentBytes(server))
            Thread.sleep(forTimeInterval: 0.05)
        }
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (peak - before, printed)
    }

    /// An upload into a backend that takes nothing: lbserver stops reading the stream once the
    /// backend connection is full, the stream's flow-control window closes, and the client waits.
    /// Without that, lbserver would read the client's zeros as fast as loopback carries them.
    @Test func anUploadIntoABackendThatTakesNothingHoldsTheClientBack() throws {
        let folder = try TemporaryFolder()
        // A listening socket that never accepts: connections complete in its backlog and their
        // receive buffers fill, then nothing moves.
        let (listener, port) = try Self.listeningSocket()
        defer { close(listener) }
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", "http://127.0.0.1:\(port)"],
                                       folder: folder.url)
        defer { server.stop() }
        let listening = try server.waitUntilListening()
        let run = try Self.growth(of: server, while: "head -c 4G /dev/zero | /usr/bin/curl -sS --http2-prior-knowledge "
                                      + "--max-time 3 -w '%{size_upload}' -T - -o /dev/null http://127.0.0.1:\(listening)/upload",
                                  seconds: 3, folder: folder.url)
        // The client got some way (the backend's socket buffers took some), then waited.
        let sent = Int(run.output) ?? 0
        #expect(sent > 64 * 1024 && sent < 256 * 1024 * 1024, "the client sent \(run.output) bytes")
        #expect(run.bytes < 32 * 1024 * 1024, "lbserver grew by \(run.bytes) bytes")
        #expect(server.process.isRunning)
    }

    /// A download faster than the client reads: lbserver stops reading the backend once the
    /// stream cannot take more, and keeps only a window's worth.
    @Test func aDownloadToASlowClientHoldsTheBackendBack() throws {
        let folder = try TemporaryFolder()
        let backend = try Self.listeningSocket()
        defer { close(backend.socket) }
        // One answer of 40 MiB, written as fast as the connection takes it, for at most 15 s.
        let body = 40 * 1024 * 1024
        let writer = Thread {
            let deadline = Date().addingTimeInterval(15)
            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            var head = [UInt8](repeating: 0, count: 4_096)
            // Health checks connect and close without a word; the request's connection speaks.
            var connection: Int32 = -1
            while connection < 0 && Date() < deadline {
                let accepted = accept(backend.socket, nil, nil)
                guard accepted >= 0 else { return }
                setsockopt(accepted, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(accepted, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if recv(accepted, &head, head.count, 0) > 0 { connection = accepted } else { close(accepted) }
            }
            guard connection >= 0 else { return }
            defer { close(connection) }
            let answer = Array("HTTP/1.1 200 OK\r\ncontent-length: \(body)\r\n\r\n".utf8)
            var chunk = [UInt8](repeating: 0x78, count: 65_536)
            guard send(connection, answer, answer.count, Int32(MSG_NOSIGNAL)) == answer.count else { return }
            var sent = 0
            while sent < body && Date() < deadline {
                let written = send(connection, &chunk, min(chunk.count, body - sent), Int32(MSG_NOSIGNAL))
                if written <= 0 { return }
                sent += written
            }
        }
        writer.start()
        let server = try ServerProcess(lbserver: ["--db", folder.database, "--backends", "http://127.0.0.1:\(backend.port)"],
                                       folder: folder.url)
        defer { server.stop() }
        let listening = try server.waitUntilListening()
        let run = try Self.growth(of: server, while: "/usr/bin/curl -sS --http2-prior-knowledge --limit-rate 1M --max-time 4 "
                                      + "-w '%{size_download}' -o /dev/null http://127.0.0.1:\(listening)/big",
                                  seconds: 4, folder: folder.url)
        let received = Int(run.output) ?? 0
        #expect(received > 512 * 1024 && received < 8 * 1024 * 1024, "the client received \(run.output) bytes")
        // Without back-pressure lbserver would hold the other 32 MiB and more.
        #expect(run.bytes < 16 * 1024 * 1024, "lbserver grew by \(run.bytes) bytes")
        #expect(server.process.isRunning)
    }

    /// A socket listening on 127.0.0.1 at an OS-chosen port.
    private static func listeningSocket() throws -> (socket: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard ok else { throw TestClientError(description: "cannot listen on 127.0.0.1") }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }
}
