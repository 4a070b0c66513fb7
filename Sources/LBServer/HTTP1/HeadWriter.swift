import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends the pieces of a head to memory the caller sized beforehand, so a head is written in
/// one pass instead of one `ByteBuffer` call (with its capacity and uniqueness checks) per piece.
/// Every append checks the bound and traps rather than write past it.
struct HeadWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    /// Bytes written so far.
    private(set) var count = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!
        capacity = memory.count
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(count + bytes.count <= capacity, "head larger than its computed bound")
        memcpy(base + count, source, bytes.count)
        count += bytes.count
    }

    /// Appends `raw[start..<end]`.
    mutating func append(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) {
        append(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        guard copied == nil else { return }
        for byte in text.utf8 {
            precondition(count < capacity, "head larger than its computed bound")
            base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }
    }
}

extension ByteBuffer {
    /// Writes a head of at most `bound` bytes with `body`, in one region of the buffer.
    mutating func writeHead(bound: Int, _ body: (inout HeadWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { memory in
            var writer = HeadWriter(memory)
            body(&writer)
            return writer.count
        }
    }
}
