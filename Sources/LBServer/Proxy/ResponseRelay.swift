import NIOCore

/// Decides how a backend's answer is written to the client with as few writes and flushes as it
/// can: the response head is held back so that a small body arriving with it goes out in the same
/// buffer, and what one backend read delivered is flushed once, at the end of that read.
///
/// A value owned by the proxy handler. It does no I/O itself: its methods say what to write, and
/// the handler writes after the call returns, since a write or flush can call back into the
/// handler (a writability change, a completed write that closes the connection).
struct ResponseRelay {
    /// Body bytes up to this size are copied into the held response head rather than written
    /// on their own.
    static let coalescedBodyBytes = 4_096

    /// The response head, held back until the first body bytes or the end of the read.
    private var heldHead: ByteBuffer?
    /// Bytes were written to the client and wait for a flush.
    private var flushPending = false

    /// Holds `head` for the body that may follow it in the same read.
    mutating func hold(head: ByteBuffer) {
        heldHead = head
        flushPending = true
    }

    /// Bytes that go out on their own (an interim answer) were written and wait for the flush.
    mutating func wrote() {
        flushPending = true
    }

    /// What to write for `body`: the held head with the body in its buffer when the body is
    /// small, else the held head (if any) and then the body.
    mutating func writes(forBody body: ByteBuffer) -> (first: ByteBuffer, second: ByteBuffer?) {
        flushPending = true
        guard var head = heldHead else { return (body, nil) }
        heldHead = nil
        guard body.readableBytes <= Self.coalescedBodyBytes else { return (head, body) }
        head.writeImmutableBuffer(body)
        return (head, nil)
    }

    /// Whether something was written since the last flush (checked at the end of a backend read).
    var flushIsDue: Bool { flushPending }

    /// A flush is made now: the held head, if any, to write before it.
    mutating func flush() -> ByteBuffer? {
        flushPending = false
        defer { heldHead = nil }
        return heldHead
    }

    /// Forgets a held head (the exchange was abandoned).
    mutating func discard() {
        heldHead = nil
        flushPending = false
    }
}
