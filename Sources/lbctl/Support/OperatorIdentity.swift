import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Names the operator who runs `lbctl` and the command they ran, for the `by=` and the
/// structured `actor` and `command` of each `admin_change` event.
enum OperatorIdentity {
    /// The effective user's login name from the password database, else `$USER`, else the uid.
    static func current() -> String {
        let uid = geteuid()
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name {
            let text = String(cString: name)
            if !text.isEmpty { return text }
        }
        if let user = ProcessInfo.processInfo.environment["USER"], !user.isEmpty { return user }
        return "uid \(uid)"
    }

    /// The command line as the operator could type it again: `lbctl` and its arguments, each
    /// quoted for a POSIX shell when it holds anything but plain characters.
    static func commandLine(_ arguments: [String] = CommandLine.arguments) -> String {
        let words = ["lbctl"] + arguments.dropFirst().map(shellQuoted)
        return words.joined(separator: " ")
    }

    private static func shellQuoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "_./:=@%+,-".unicodeScalars.contains(scalar))
        }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
