#if canImport(Glibc)
import Glibc
#endif
import LBText

/// The names daemons record under (`--instance`), and this build's version, which each daemon
/// writes into its row of `instances`.
enum InstanceName {
    /// What `lbserver --version` and `lbctl instances` say this build is (kept in `LBText`, which
    /// `lbctl` shares).
    static var version: String { ProductVersion.current }

    /// 1 to 64 of letters, digits, `.`, `-` and `_`: safe in a log line, a metric label and a URL.
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    /// The host name, as `--instance`'s default; "lbserver" if it cannot be read or is no valid name.
    static let hostDefault: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "lbserver" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return isValid(name) ? name : "lbserver"
    }()
}
