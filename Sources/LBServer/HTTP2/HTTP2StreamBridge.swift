import NIOCore
import NIOHTTP1

/// Puts one HTTP/2 stream through the same request path as an HTTP/1.1 connection: the stream's
/// request (as swift-nio-http2's codec gives it, `HTTPServerRequestPart`) goes to `ProxyHandler`
/// as the HTTP/1.1 bytes a client would have sent, and the HTTP/1.1 bytes `ProxyHandler` answers
/// with go back as response parts for the codec to frame. So every rule of the proxy (canonical
/// framing, retries, events, metrics, the access log) holds for HTTP/2 unchanged.
///
/// Inbound, a request with a `content-length` keeps it; one without, that has a body, is sent
/// chunked; one without a body gets no framing field. Outbound, the answer's head is parsed with
/// `ResponseHead` and its body cut with `BodyScanner`: the HTTP/1.1-only fields (`Connection` and
/// those it names, `Keep-Alive`, `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`) are dropped,
/// as RFC 9113 §8.2.2 forbids them, and the body is passed on without its chunk framing.
final class HTTP2StreamBridge: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTPServerResponsePart

    /// A request head held until the next part says whether a body follows.
    private var pendingHead: HTTPRequestHead?
    private var requestIsChunked = false
    private var requestWasHEAD = false

    private enum Answer {
        /// Reading the response head's bytes (again after an interim 1xx).
        case head(ByteBuffer)
        case body(BodyScanner)
        case done
    }
    private var answer: Answer = .head(ByteBuffer())

    /// The largest response head taken; a longer one is an error (the proxy writes its own heads,
    /// and a backend's are held to the same bound).
    static let maximumHeadBytes = 64 * 1024

    // MARK: The request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pendingHead = head
            requestWasHEAD = head.method == .HEAD
        case .body(let body):
            if let head = pendingHead {
                pendingHead = nil
                requestIsChunked = !head.headers.contains(name: "content-length")
                forward(head, chunked: requestIsChunked, context: context)
            }
            if requestIsChunked {
                var chunk = context.channel.allocator.buffer(capacity: body.readableBytes + 16)
                chunk.writeString(String(body.readableBytes, radix: 16))
                chunk.writeStaticString("\r\n")
                chunk.writeImmutableBuffer(body)
                chunk.writeStaticString("\r\n")
                context.fireChannelRead(wrapInboundOut(chunk))
            } else {
                context.fireChannelRead(wrapInboundOut(body))
            }
        case .end(let trailers):
            if let head = pendingHead {
                pendingHead = nil
                forward(head, chunked: false, context: context)
            } else if requestIsChunked {
                var last = context.channel.allocator.buffer(capacity: 64)
                last.writeStaticString("0\r\n")
                for (name, value) in trailers ?? [:] { last.writeString("\(name): \(value)\r\n") }
                last.writeStaticString("\r\n")
                context.fireChannelRead(wrapInboundOut(last))
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    /// The request head as HTTP/1.1 bytes; the codec has already turned `:authority` into `host`.
    private func forward(_ head: HTTPRequestHead, chunked: Bool, context: ChannelHandlerContext) {
        var bytes = context.channel.allocator.buffer(capacity: 512)
        bytes.writeString("\(head.method.rawValue) \(head.uri) HTTP/1.1\r\n")
        for (name, value) in head.headers {
            bytes.writeString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        if chunked { bytes.writeStaticString("transfer-encoding: chunked\r\n") }
        bytes.writeStaticString("\r\n")
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    // MARK: The answer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        var last: EventLoopFuture<Void>?
        do {
            while bytes.readableBytes > 0 || isEmptyBodyDue {
                if let written = try take(&bytes, context: context) { last = written } else { break }
            }
            if let last { last.cascade(to: promise) } else { promise?.succeed() }
        } catch {
            promise?.fail(error)
            context.close(promise: nil)
        }
    }

    /// After a head whose body is empty, the end is written without waiting for more bytes.
    private var isEmptyBodyDue: Bool {
        if case .body(let scanner) = answer { return scanner.isComplete }
        return false
    }

    /// Consumes what it can of `bytes`; returns the future of the last part it wrote, or nil
    /// when it needs more bytes.
    private func take(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) throws -> EventLoopFuture<Void>? {
        switch answer {
        case .done:
            bytes.moveReaderIndex(forwardBy: bytes.readableBytes)
            return nil
        case .head(var held):
            held.writeBuffer(&bytes)
            guard let end = Self.headEnd(held) else {
                guard held.readableBytes <= Self.maximumHeadBytes else { throw HTTP2BridgeError.headTooLarge }
                answer = .head(held)
                return nil
            }
            let headBytes = held.readSlice(length: end)!
            bytes = held
            let head = try ResponseHead.parse(headBytes, requestWasHEAD: requestWasHEAD)
            let responseHead = Self.responseHead(head)
            let written = context.write(wrapOutboundOut(.head(responseHead)))
            if head.status < 200 {
                answer = .head(ByteBuffer())
            } else {
                answer = .body(BodyScanner(head.framing))
            }
            return written
        case .body(var scanner):
            if scanner.isComplete {
                answer = .done
                return context.write(wrapOutboundOut(.end(nil)))
            }
            var written: EventLoopFuture<Void>?
            let used = try bytes.withUnsafeReadableBytes { raw in
                try scanner.scan(raw) { range in
                    let slice = bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)!
                    written = context.write(wrapOutboundOut(.body(.byteBuffer(slice))))
                }
            }
            bytes.moveReaderIndex(forwardBy: used)
            answer = .body(scanner)
            if scanner.isComplete {
                answer = .done
                return context.write(wrapOutboundOut(.end(nil)))
            }
            return written
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // A body that runs until the connection closes ends here, as the stream's end.
        if case .body(let scanner) = answer, scanner.endsAtClose {
            answer = .done
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(mode: mode, promise: promise)
    }

    /// The head as HTTP/2 carries it: status and fields, less those that only HTTP/1.1 has.
    private static func responseHead(_ head: ResponseHead) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        head.bytes.withUnsafeReadableBytes { raw in
            for field in head.fields {
                let name = String(decoding: raw[field.lineStart..<Int(field.nameEnd)], as: UTF8.self).lowercased()
                guard !hopByHop.contains(name), !head.connectionOptions.contains(name) else { continue }
                headers.add(name: name, value: String(decoding: raw[Int(field.valueStart)..<Int(field.valueEnd)], as: UTF8.self))
            }
        }
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: head.status), headers: headers)
    }

    private static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "upgrade",
                                                 "proxy-connection", "te"]

    private static func headEnd(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { raw -> Int? in
            guard raw.count >= 4 else { return nil }
            for index in 0...(raw.count - 4) where raw[index] == 13 && raw[index + 1] == 10
                && raw[index + 2] == 13 && raw[index + 3] == 10 {
                return index + 4
            }
            return nil
        }
    }
}

enum HTTP2BridgeError: Error {
    case headTooLarge
}
