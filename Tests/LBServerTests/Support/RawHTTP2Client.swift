import Foundation
import NIOCore
import NIOHPACK
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/2 client that writes frames by hand over a plain socket (h2c with prior knowledge), to
/// play the attacks a well-behaved library would never send: rapid resets, CONTINUATION floods,
/// control-frame floods, oversized header lists. Test code only.
final class RawHTTP2Client {
    private let socket: Int32

    /// Frame types and error codes of RFC 9113 that the tests read.
    enum FrameType: UInt8 { case data = 0, headers = 1, rstStream = 3, settings = 4, ping = 6, goaway = 7, continuation = 9 }
    struct Frame { var type: UInt8; var flags: UInt8; var stream: UInt32; var payload: [UInt8] }

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestClientError(description: "cannot connect to 127.0.0.1:\(port)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.frame(.settings, flags: 0, stream: 0, []))
    }

    deinit { close(socket) }

    static func frame(_ type: FrameType, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type.rawValue, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
            + payload
    }

    /// A GET of `/` as an HPACK block: `:method GET`, `:scheme http`, `:path /` from the static
    /// table, and `:authority 127.0.0.1` as a literal.
    static let getBlock: [UInt8] = [0x82, 0x86, 0x84, 0x41, 9] + Array("127.0.0.1".utf8)

    /// A literal header field without indexing, `name: value` (lengths under 127 bytes for the
    /// name; the value's length as HPACK's 7-bit prefix integer).
    static func literal(_ name: String, _ value: String) -> [UInt8] {
        [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + integer(value.utf8.count, prefixBits: 7) + Array(value.utf8)
    }

    private static func integer(_ value: Int, prefixBits: Int) -> [UInt8] {
        let limit = (1 << prefixBits) - 1
        guard value >= limit else { return [UInt8(value)] }
        var bytes = [UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            bytes.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        bytes.append(UInt8(rest))
        return bytes
    }

    /// A header block of `fields`, in order, encoded by swift-nio-http2's HPACK encoder (for
    /// requests that are well-formed as HPACK, whatever they say).
    static func block(_ fields: [(String, String)]) -> [UInt8] {
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
        var buffer = ByteBuffer()
        try! encoder.encode(headers: HPACKHeaders(fields), to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// One stream's answer as the client saw it.
    struct Answer {
        /// Each header block in order (the head, any trailers), decoded.
        var headerBlocks: [[(name: String, value: String)]] = []
        var body: [UInt8] = []
        var ended = false
        var resetCode: UInt32?

        func field(_ name: String) -> String? { headerBlocks.first?.first { $0.name == name }?.value }
    }

    /// The answers in `frames`, by stream; header blocks are decoded in order with one decoder,
    /// as the connection's dynamic table requires (a block in CONTINUATION frames is not expected).
    static func answers(_ frames: [Frame]) throws -> [UInt32: Answer] {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        var answers: [UInt32: Answer] = [:]
        for frame in frames where frame.stream != 0 {
            var answer = answers[frame.stream] ?? Answer()
            switch frame.type {
            case FrameType.headers.rawValue:
                var payload = ByteBuffer(bytes: frame.payload)
                let headers = try decoder.decodeHeaders(from: &payload)
                answer.headerBlocks.append(headers.map { ($0.name, $0.value) })
            case FrameType.data.rawValue:
                answer.body += frame.payload
            case FrameType.rstStream.rawValue where frame.payload.count == 4:
                let p = frame.payload
                answer.resetCode = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
            default:
                break
            }
            if frame.flags & 0x1 != 0, frame.type == FrameType.headers.rawValue || frame.type == FrameType.data.rawValue {
                answer.ended = true
            }
            answers[frame.stream] = answer
        }
        return answers
    }

    /// Reads frames until every one of `streams` has ended or been reset, the peer closes, or
    /// `seconds` pass.
    func readAnswers(streams: [UInt32], seconds: Double = 10) throws -> [UInt32: Answer] {
        let deadline = Date().addingTimeInterval(seconds)
        var frames: [Frame] = []
        while Date() < deadline {
            let read = readFrames(seconds: 1)
            frames += read.frames
            let answers = try Self.answers(frames)
            if read.closed || streams.allSatisfy({ answers[$0]?.ended == true || answers[$0]?.resetCode != nil }) {
                return answers
            }
        }
        return try Self.answers(frames)
    }

    /// Writes everything, or as much as the peer takes before it closes; returns the bytes written.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if result <= 0 { break }
            written += result
        }
        return written
    }

    /// Reads frames until the peer closes or `seconds` pass without a byte.
    func readFrames(seconds: Double = 5) -> (frames: [Frame], closed: Bool) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var closed = false
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while bytes.count < 16_000_000 {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                closed = true
                break
            }
            if count < 0 { break }
            bytes += buffer[0..<count]
        }
        var frames: [Frame] = []
        var index = 0
        while index + 9 <= bytes.count {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            guard index + 9 + length <= bytes.count else { break }
            let stream = UInt32(bytes[index + 5] & 0x7f) << 24 | UInt32(bytes[index + 6]) << 16
                | UInt32(bytes[index + 7]) << 8 | UInt32(bytes[index + 8])
            frames.append(Frame(type: bytes[index + 3], flags: bytes[index + 4], stream: stream,
                                payload: Array(bytes[(index + 9)..<(index + 9 + length)])))
            index += 9 + length
        }
        return (frames, closed)
    }

    /// The error code of the first GOAWAY among `frames`, if any.
    static func goawayCode(_ frames: [Frame]) -> UInt32? {
        guard let goaway = frames.first(where: { $0.type == FrameType.goaway.rawValue }), goaway.payload.count >= 8 else {
            return nil
        }
        let p = goaway.payload
        return UInt32(p[4]) << 24 | UInt32(p[5]) << 16 | UInt32(p[6]) << 8 | UInt32(p[7])
    }
}
