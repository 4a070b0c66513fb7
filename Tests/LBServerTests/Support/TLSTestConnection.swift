import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// One kept-alive HTTPS connection to the proxy, made with swift-nio-ssl, trusting `ca` and asking
/// for `serverName` (SNI): requests one after another on the same TLS session, and the names of
/// the certificate the server presented.
final class TLSTestConnection {
    private let channel: Channel
    private let received: Received
    let serverName: String

    private final class Received: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: `bytes` and `closed` are read and written under `lock`.
        typealias InboundIn = ByteBuffer
        let lock = NIOLock()
        var bytes: [UInt8] = []
        var closed = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let read = buffer.readBytes(length: buffer.readableBytes) ?? []
            lock.withLock { bytes += read }
        }

        func channelInactive(context: ChannelHandlerContext) {
            lock.withLock { closed = true }
        }
    }

    init(port: Int, serverName: String, ca: String, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(ca)
        let context = try NIOSSLContext(configuration: configuration)
        let received = Received()
        self.received = received
        self.serverName = serverName
        channel = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHandler(received)
                }
            }
            .connect(host: "127.0.0.1", port: port).wait()
    }

    deinit { channel.close(promise: nil) }

    /// GET `path` on this connection; the status and body of a Content-Length framed answer.
    func get(_ path: String = "/") throws -> (status: Int, headers: [String: String], body: String) {
        let request = "GET \(path) HTTP/1.1\r\nHost: \(serverName)\r\n\r\n"
        try channel.writeAndFlush(ByteBuffer(string: request)).wait()
        var answer: (Int, [String: String], String)?
        _ = waitUntil {
            received.lock.withLock {
                guard let end = Self.headEnd(received.bytes) else { return received.closed }
                let head = String(decoding: received.bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                guard received.bytes.count >= end + 4 + length else { return received.closed }
                let status = Int(head[0].split(separator: " ").dropFirst().first ?? "") ?? 0
                answer = (status, headers, String(decoding: received.bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self))
                received.bytes.removeFirst(end + 4 + length)
                return true
            }
        }
        guard let answer else { throw TestClientError(description: "no complete answer on the TLS connection") }
        return answer
    }

    /// The DNS names of the certificate the server presented.
    func peerNames() throws -> [String] {
        try channel.eventLoop.submit { [channel] in
            let handler = try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            return handler.peerCertificate?._subjectAlternativeNames().compactMap { name in
                name.nameType == .dnsName ? name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) } : nil
            } ?? []
        }.wait()
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10
            && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
