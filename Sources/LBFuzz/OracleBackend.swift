#if LB_FUZZ || DEBUG
@testable import LBServer
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The relay oracle's fake backend on one upstream connection (an `EmbeddedChannel` the proxy
/// writes to): NIOHTTP1 reads the proxy's bytes and every request it reads whole is answered; the
/// naive reading of the same bytes (`NaiveRequestParser`) is kept beside it for comparison.
///
/// Answers are queued and delivered one per `deliverOne()`, so the proxy sees them in separate
/// reads, as a slow backend would send them. Single-threaded, like the harness that drives it.
final class OracleBackend {
    /// How an answer is shaped; the harness picks one per request so every kind comes up.
    enum Shape: CaseIterable {
        case length
        case chunked
        case noContent
        case earlyHintsThenLength
        case notModified
        case lengthThenClose
        /// A `204` followed, in the same read, by bytes of a response nobody asked for.
        case noContentWithStaleBytes
    }

    /// What the backend sent for one request it read.
    struct Answer {
        var shape: Shape
        var status: Int
        var body: [UInt8]
        /// The value of `X-Oracle-Echo`, a field that must reach the client unchanged.
        var echo: String
        var sentInterim: Bool
    }

    /// One request the backend read whole, with its number across all connections.
    struct Exchange {
        var sequence: Int
        var connection: Int
        var request: NIOHTTP1RequestReader.Request
        var answer: Answer
    }

    private struct Delivery {
        var bytes: [UInt8]
        var closeAfter: Bool
        var leavesStaleBytes: Bool
    }

    let channel: EmbeddedChannel
    let index: Int
    let reader = NIOHTTP1RequestReader()
    private(set) var naive = NaiveRequestParser()
    private(set) var naiveRequests: [NaiveRequestParser.Request] = []
    /// Every byte the proxy wrote on this connection.
    private(set) var received: [UInt8] = []
    private var answered = 0
    private var answeredError = false
    private var pending: [Delivery] = []
    /// Bytes past a response's end were sent on this connection.
    private(set) var sentStaleBytes = false
    /// Request bytes the proxy wrote after the stale bytes were delivered.
    private(set) var bytesWrittenAfterStaleBytes = 0
    private(set) var closedByBackend = false

    init(channel: EmbeddedChannel, index: Int) {
        self.channel = channel
        self.index = index
    }

    /// Takes what the proxy wrote since the last call and queues answers to the requests it completes.
    /// `pick` chooses each answer's shape from the request's number; returns whether bytes arrived.
    func receive(nextSequence: () -> Int, pick: (Int) -> Shape, record: (Exchange) -> Void) -> Bool {
        var arrived = false
        while let bytes = try? channel.readOutbound(as: ByteBuffer.self) {
            arrived = true
            if sentStaleBytes { bytesWrittenAfterStaleBytes += bytes.readableBytes }
            received += bytes.readableBytesView
            naive.append(bytes.readableBytesView)
            while let request = naive.next() { naiveRequests.append(request) }
            reader.feed(bytes)
        }
        guard !answeredError else { return arrived }
        while answered < reader.requests.count {
            let request = reader.requests[answered]
            answered += 1
            let sequence = nextSequence()
            let (answer, delivery) = Self.answer(request, sequence: sequence, shape: pick(sequence))
            var queued = delivery
            // NIOHTTP1 reads nothing after an upgrade request: the backend closes after answering.
            if request.stopsTheStream { queued.closeAfter = true }
            pending.append(queued)
            record(Exchange(sequence: sequence, connection: index, request: request, answer: answer))
        }
        if let error = reader.error {
            answeredError = true
            let text = "HTTP/1.1 400 Bad Request\r\nX-Oracle-Backend-Error: \(Self.name(of: error))\r\n"
                + "Content-Length: 0\r\nConnection: close\r\n\r\n"
            pending.append(Delivery(bytes: Array(text.utf8), closeAfter: true, leavesStaleBytes: false))
        }
        return arrived
    }

    /// Delivers the oldest queued answer to the proxy; returns whether there was one.
    func deliverOne() -> Bool {
        guard !pending.isEmpty else { return false }
        let delivery = pending.removeFirst()
        guard channel.isActive else {
            pending.removeAll()
            return true
        }
        _ = try? channel.writeInbound(ByteBuffer(bytes: delivery.bytes))
        if delivery.leavesStaleBytes { sentStaleBytes = true }
        if delivery.closeAfter, channel.isActive {
            closedByBackend = true
            pending.removeAll()
            _ = channel.close()
        }
        return true
    }

    /// A short name for NIOHTTP1's error, for the answer's field and for violation messages.
    static func name(of error: Error) -> String {
        String(describing: error).prefix(60).filter { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }
    }

    private static func answer(_ request: NIOHTTP1RequestReader.Request, sequence: Int,
                               shape: Shape) -> (Answer, Delivery) {
        let isHEAD = request.head.method == .HEAD
        let echo = "echo-\(sequence)"
        let body = Array("seen: \(request.summary) seq=\(sequence)".utf8)
        let fields = "X-Oracle-Seq: \(sequence)\r\nX-Oracle-Echo: \(echo)\r\n"
        var text: [UInt8]
        var answer = Answer(shape: shape, status: 200, body: isHEAD ? [] : body, echo: echo, sentInterim: false)
        var delivery = Delivery(bytes: [], closeAfter: false, leavesStaleBytes: false)
        func withLength(close: Bool) -> [UInt8] {
            Array("HTTP/1.1 200 OK\r\n\(fields)Content-Length: \(body.count)\r\n\(close ? "Connection: close\r\n" : "")\r\n".utf8)
                + (isHEAD ? [] : body)
        }
        switch shape {
        case .length:
            text = withLength(close: false)
        case .chunked:
            text = Array("HTTP/1.1 200 OK\r\n\(fields)Transfer-Encoding: chunked\r\n\r\n".utf8)
            if !isHEAD {
                let half = body.count / 2
                for part in [body[..<half], body[half...]] where !part.isEmpty {
                    text += Array("\(String(part.count, radix: 16))\r\n".utf8) + part + Array("\r\n".utf8)
                }
                text += Array("0\r\n\r\n".utf8)
            }
        case .noContent, .noContentWithStaleBytes:
            answer.status = 204
            answer.body = []
            text = Array("HTTP/1.1 204 No Content\r\n\(fields)Content-Length: 0\r\n\r\n".utf8)
            if shape == .noContentWithStaleBytes {
                text += Array("HTTP/1.1 200 OK\r\nX-Oracle-Seq: stale\r\nContent-Length: 5\r\n\r\nstale".utf8)
                delivery.leavesStaleBytes = true
            }
        case .earlyHintsThenLength:
            answer.sentInterim = true
            text = Array("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Oracle-Interim: \(sequence)\r\n\r\n".utf8)
                + withLength(close: false)
        case .notModified:
            answer.status = 304
            answer.body = []
            // The length the full answer would have had (RFC 9110 §8.6): allowed, never a body.
            text = Array("HTTP/1.1 304 Not Modified\r\n\(fields)Content-Length: \(body.count)\r\n\r\n".utf8)
        case .lengthThenClose:
            text = withLength(close: true)
            delivery.closeAfter = true
        }
        delivery.bytes = text
        return (answer, delivery)
    }
}
#endif
