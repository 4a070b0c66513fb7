import NIOCore

/// Decides which errors end an HTTP/2 connection. It sits just below `NIOHTTP2Handler`:
/// - an error from below (the socket, TLS) closes the connection;
/// - swift-nio-http2 answers a connection error (a flood cut off, a protocol violation) with a
///   GOAWAY that carries an error code, and then reports the error; this closes the connection
///   once that GOAWAY is flushed;
/// - a stream error (a malformed request, say) is answered with RST_STREAM and reported the same
///   way, but ends only its stream, so the errors reported above `NIOHTTP2Handler` close nothing.
///
/// It tells the two apart by the frames swift-nio-http2 writes, reading only each frame's 9-byte
/// header (RFC 9113 §4.1) and a GOAWAY's error code.
final class HTTP2ErrorCloser: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = IOData

    private enum Reading {
        /// The bytes of a frame header so far.
        case header([UInt8])
        /// The first 8 bytes of a GOAWAY's payload (last stream id, error code) so far, and the
        /// payload bytes after them.
        case goaway([UInt8], rest: Int)
        /// Payload bytes that do not matter here.
        case skip(Int)
    }
    private var reading = Reading.header([])
    private var closeAfterFlush = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .byteBuffer(let bytes): follow(bytes.readableBytesView)
        case .fileRegion(let region): skip(region.readableBytes)
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if closeAfterFlush {
            closeAfterFlush = false
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
        context.fireErrorCaught(error)
    }

    private func follow(_ bytes: ByteBufferView) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            switch reading {
            case .skip(let count):
                let taken = min(count, bytes.endIndex - index)
                index += taken
                reading = count - taken == 0 ? .header([]) : .skip(count - taken)
            case .header(var header):
                header.append(bytes[index])
                index += 1
                guard header.count == 9 else {
                    reading = .header(header)
                    continue
                }
                let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
                let isGoaway = header[3] == 0x7
                reading = isGoaway && length >= 8 ? .goaway([], rest: length - 8) : (length == 0 ? .header([]) : .skip(length))
            case .goaway(var payload, let rest):
                payload.append(bytes[index])
                index += 1
                guard payload.count == 8 else {
                    reading = .goaway(payload, rest: rest)
                    continue
                }
                if payload[4...7].contains(where: { $0 != 0 }) { closeAfterFlush = true }
                reading = rest == 0 ? .header([]) : .skip(rest)
            }
        }
    }

    private func skip(_ count: Int) {
        if case .skip(let left) = reading {
            reading = left - count <= 0 ? .header([]) : .skip(left - count)
        }
    }
}
