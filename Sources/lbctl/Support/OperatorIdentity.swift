import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Names the operator who runs `lbctl`, for the `by=` of each `admin_change` event.
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
}
