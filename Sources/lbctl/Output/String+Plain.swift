extension String {
    /// True when every byte is printable ASCII other than `"` and `\`: text that tables, JSON and
    /// CSV can copy as it is. Checked over the contiguous UTF-8 storage when there is one.
    var isPlainPrintableASCII: Bool {
        func check<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
            for byte in bytes where byte < 0x20 || byte >= 0x7F || byte == 0x22 || byte == 0x5C { return false }
            return true
        }
        return utf8.withContiguousStorageIfAvailable { check($0) } ?? check(utf8)
    }
}
