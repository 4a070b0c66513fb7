import NIOCore
import NIOHPACK
import NIOHTTP2

/// Puts one HTTP/2 stream through the same request path as an HTTP/1.1 connection: the stream's
/// frames become the HTTP/1.1 bytes a client would have sent, for a `ProxyHandler` of the
/// stream's own, and the HTTP/1.1 bytes `ProxyHandler` answers with become the stream's frames.
/// So every rule of the proxy (canonical framing, retries, events, metrics, the access log) holds
/// for HTTP/2 unchanged, and the request head is parsed by the same strict parser.
///
/// swift-nio-http2 has checked the header block by then (RFC 9113 §8.2: no CR, LF or NUL in a
/// value, no connection-specific field, the pseudo-fields present and well-formed) and that the
/// DATA frames add up to a `content-length`.
///
/// The request: `:method`, `:path` and HTTP/1.1 make the request line, `:authority` the `Host`
/// field (a `Host` that differs stays beside it, and the proxy refuses two), `Cookie` crumbs are
/// joined into one field (§8.2.3). A request with a `content-length` keeps it; one without, whose
/// body arrives in one DATA frame, gets the length; any other body is sent chunked, with the
/// client's trailers. The head waits for the next frame, so an empty DATA frame that ends the
/// stream adds no framing.
///
/// The answer: its head is parsed with `ResponseHead`, its body cut out of its framing with
/// `BodyScanner`; the HTTP/1.1-only fields (`Connection` and those it names, `Keep-Alive`,
/// `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`, `TE`) are dropped as §8.2.2 requires, a
/// chunked body's trailers are sent as trailers, and the stream's end rides on the last frame.
final class HTTP2StreamAdapter: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum Request {
        /// Waiting for the request's header block.
        case head
        /// The head, held until the next frame says whether and how a body follows.
        case headHeld(HPACKHeaders)
        case body(chunked: Bool)
        case ended
    }
    private var request = Request.head
    private var requestWasHEAD = false

    private enum Answer {
        /// Reading the response head's bytes (again after an interim 1xx).
        case head(ByteBuffer)
        case body(BodyScanner)
        case done
    }
    private var answer = Answer.head(ByteBuffer())

    /// The largest response head taken; a longer one is an error (the proxy writes its own heads,
    /// and a backend's are held to the same bound).
    static let maximumHeadBytes = 64 * 1024

    // MARK: The request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            receivedHeaders(headers.headers, endStream: headers.endStream, context: context)
        case .data(let data):
            guard case .byteBuffer(let bytes) = data.data else { return }
            receivedData(bytes, endStream: data.endStream, context: context)
        default:
            // RST_STREAM closes the stream channel; the rest concern the stream's framing.
            break
        }
    }

    private func receivedHeaders(_ headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        switch request {
        case .head:
            requestWasHEAD = headers.first(name: ":method") == "HEAD"
            if endStream {
                request = .ended
                forwardHead(headers, framing: .none, context: context)
            } else {
                request = .headHeld(headers)
            }
        case .headHeld(let head):
            // Trailers straight after the head: a body of nothing, chunked to carry them.
            forwardHead(head, framing: .chunked, context: context)
            request = .body(chunked: true)
            receivedHeaders(headers, endStream: endStream, context: context)
        case .body(let chunked):
            request = .ended
            // A length-framed body has no place for trailers; they are dropped.
            guard chunked else { return }
            var last = context.channel.allocator.buffer(capacity: 64)
            last.writeStaticString("0\r\n")
            for (name, value, _) in headers where !name.hasPrefix(":") {
                last.writeString(name)
                last.writeStaticString(": ")
                last.writeString(value)
                last.writeStaticString("\r\n")
            }
            last.writeStaticString("\r\n")
            context.fireChannelRead(wrapInboundOut(last))
        case .ended:
            break
        }
    }

    private func receivedData(_ bytes: ByteBuffer, endStream: Bool, context: ChannelHandlerContext) {
        switch request {
        case .head, .ended:
            return
        case .headHeld(let head):
            if head.contains(name: "content-length") {
                forwardHead(head, framing: .length(nil), context: context)
                request = .body(chunked: false)
            } else if endStream {
                // The whole body in one frame (or none): its length is known.
                forwardHead(head, framing: bytes.readableBytes == 0 ? .none : .length(bytes.readableBytes),
                            context: context)
                request = .body(chunked: false)
            } else {
                forwardHead(head, framing: .chunked, context: context)
                request = .body(chunked: true)
            }
            receivedData(bytes, endStream: endStream, context: context)
        case .body(let chunked):
            if endStream { request = .ended }
            guard chunked else {
                if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
                return
            }
            var chunk = context.channel.allocator.buffer(capacity: bytes.readableBytes + 24)
            if bytes.readableBytes > 0 {
                chunk.writeString(String(bytes.readableBytes, radix: 16))
                chunk.writeStaticString("\r\n")
                chunk.writeImmutableBuffer(bytes)
                chunk.writeStaticString("\r\n")
            }
            if endStream { chunk.writeStaticString("0\r\n\r\n") }
            if chunk.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(chunk)) }
        }
    }

    private enum RequestFraming {
        case none
        /// The client's own `content-length` (nil), or the one the adapter adds.
        case length(Int?)
        case chunked
    }

    /// The request head as HTTP/1.1 bytes.
    private func forwardHead(_ headers: HPACKHeaders, framing: RequestFraming, context: ChannelHandlerContext) {
        var bytes = context.channel.allocator.buffer(capacity: 256)
        var method: Substring = "", path: Substring = "", authority: Substring?
        var hostSeen: String?
        var cookies: [String] = []
        for (name, value, _) in headers {
            guard name.utf8.first == UInt8(ascii: ":") else {
                if name == "cookie" { cookies.append(value) } else if name == "host" { hostSeen = value }
                continue
            }
            switch name {
            case ":method": method = Substring(value)
            case ":path": path = Substring(value)
            case ":authority": authority = Substring(value)
            default: break
            }
        }
        bytes.writeSubstring(method)
        bytes.writeStaticString(" ")
        bytes.writeSubstring(path)
        bytes.writeStaticString(" HTTP/1.1\r\n")
        if let authority, hostSeen.map({ $0 != authority }) ?? true {
            bytes.writeStaticString("host: ")
            bytes.writeSubstring(authority)
            bytes.writeStaticString("\r\n")
        }
        for (name, value, _) in headers where name.utf8.first != UInt8(ascii: ":") && name != "cookie" {
            bytes.writeString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        if !cookies.isEmpty {
            bytes.writeStaticString("cookie: ")
            for (index, cookie) in cookies.enumerated() {
                if index > 0 { bytes.writeStaticString("; ") }
                bytes.writeString(cookie)
            }
            bytes.writeStaticString("\r\n")
        }
        switch framing {
        case .none, .length(nil):
            break
        case .length(let length?):
            bytes.writeStaticString("content-length: ")
            bytes.writeString(String(length))
            bytes.writeStaticString("\r\n")
        case .chunked:
            bytes.writeStaticString("transfer-encoding: chunked\r\n")
        }
        bytes.writeStaticString("\r\n")
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    // MARK: The answer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        var written: EventLoopFuture<Void>?
        do {
            while bytes.readableBytes > 0 {
                guard let future = try take(&bytes, context: context) else { break }
                written = future
            }
            if let written { written.cascade(to: promise) } else { promise?.succeed() }
        } catch {
            promise?.fail(error)
            context.close(promise: nil)
        }
    }

    /// Consumes what it can of `bytes`; returns the future of the last frame it wrote, or nil
    /// when it needs more bytes.
    private func take(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) throws -> EventLoopFuture<Void>? {
        switch answer {
        case .done:
            bytes.moveReaderIndex(forwardBy: bytes.readableBytes)
            return nil
        case .head(var held):
            let end: Int
            if held.readableBytes == 0, let found = Self.headEnd(bytes) {
                // The usual case: the whole head in one write, taken without a copy.
                end = found
                held = bytes
                bytes = ByteBuffer()
            } else {
                held.writeBuffer(&bytes)
                guard let found = Self.headEnd(held) else {
                    guard held.readableBytes <= Self.maximumHeadBytes else { throw HTTP2BridgeError.headTooLarge }
                    answer = .head(held)
                    return nil
                }
                end = found
            }
            let headBytes = held.readSlice(length: end)!
            bytes = held
            let head = try ResponseHead.parse(headBytes, requestWasHEAD: requestWasHEAD)
            if head.status < 200 {
                answer = .head(ByteBuffer())
                return context.write(wrapOutboundOut(.headers(.init(headers: Self.fields(head)))))
            }
            let scanner = BodyScanner(head.framing)
            answer = scanner.isComplete ? .done : .body(scanner)
            return context.write(wrapOutboundOut(.headers(.init(headers: Self.fields(head), endStream: scanner.isComplete))))
        case .body(var scanner):
            var payload: [ByteBuffer] = []
            let used = try bytes.withUnsafeReadableBytes { raw in
                try scanner.scan(raw) { range in
                    payload.append(bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)!)
                }
            }
            bytes.moveReaderIndex(forwardBy: used)
            let trailers = scanner.isComplete ? try Self.trailers(scanner) : nil
            answer = scanner.isComplete ? .done : .body(scanner)
            var written: EventLoopFuture<Void>?
            for (index, slice) in payload.enumerated() {
                let last = index == payload.count - 1 && scanner.isComplete && trailers == nil
                written = context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(slice), endStream: last))))
            }
            if scanner.isComplete {
                if let trailers {
                    written = context.write(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))))
                } else if payload.isEmpty {
                    written = context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))))
                }
            }
            return written
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // A body that runs until the connection closes ends here, as the stream's end.
        if case .body(let scanner) = answer, scanner.endsAtClose {
            answer = .done
            context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))),
                                  promise: nil)
        }
        context.close(mode: mode, promise: promise)
    }

    /// The head as HTTP/2 carries it: `:status` and the fields, less those only HTTP/1.1 has.
    private static func fields(_ head: ResponseHead) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(head.fields.count + 1)
        headers.add(name: ":status", value: String(head.status))
        head.bytes.withUnsafeReadableBytes { raw in
            for field in head.fields {
                let name = lowercasedName(raw, field)
                guard !hopByHop.contains(name), !head.connectionOptions.contains(name) else { continue }
                headers.add(name: name, value: String(decoding: raw[Int(field.valueStart)..<Int(field.valueEnd)], as: UTF8.self),
                            indexing: indexing(name))
            }
        }
        return headers
    }

    /// How HPACK may keep a field in the connection's table: a value that differs on every
    /// answer (the request id) would only push useful entries out, and a cookie is never kept.
    private static func indexing(_ name: String) -> HPACKIndexing {
        switch name {
        case "x-request-id": .nonIndexable
        case "set-cookie": .neverIndexed
        default: .indexable
        }
    }

    /// A chunked answer's trailer fields, or nil when it had none.
    private static func trailers(_ scanner: BodyScanner) throws -> HPACKHeaders? {
        guard !scanner.trailers.isEmpty else { return nil }
        var headers = HPACKHeaders()
        try BodyScanner.trailerFields(scanner.trailers) { raw, field in
            let name = lowercasedName(raw, field)
            guard !hopByHop.contains(name) else { return }
            headers.add(name: name, value: String(decoding: raw[Int(field.valueStart)..<Int(field.valueEnd)], as: UTF8.self))
        }
        return headers.isEmpty ? nil : headers
    }

    private static func lowercasedName(_ raw: UnsafeRawBufferPointer, _ field: HeaderField) -> String {
        let name = UnsafeRawBufferPointer(rebasing: raw[field.lineStart..<Int(field.nameEnd)])
        // Most backends send names in lower case already; only the others pay for a copy.
        if !name.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
            return String(decoding: name, as: UTF8.self)
        }
        return String(decoding: name.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 },
                      as: UTF8.self)
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
