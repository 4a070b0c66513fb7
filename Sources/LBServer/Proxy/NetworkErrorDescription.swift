import NIOCore
import NIOPosix
import NIOSSL

/// Turns NIO's connection errors into the few words an operator expects in the event log.
enum NetworkErrorDescription {
    static func describe(_ error: Error, timeout: TimeAmount) -> String {
        if case ChannelError.connectTimeout = error { return "connect timed out after \(timeout.humanDescription)" }
        if let failure = error as? NIOConnectionError {
            if let first = failure.connectionErrors.first { return describe(first.error, timeout: timeout) }
            if let resolution = failure.dnsAAAAError ?? failure.dnsAError { return "cannot resolve host: \(resolution)" }
            return "cannot connect"
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset"
            case EHOSTUNREACH: return "host unreachable"
            case ENETUNREACH: return "network unreachable"
            case ETIMEDOUT: return "connect timed out"
            default: return "\(io)"
            }
        }
        if let handshake = error as? TLSHandshakeTimeout {
            return "TLS handshake timed out after \(handshake.timeout.humanDescription)"
        }
        if let verification = error as? TLSVerificationFailure { return "TLS handshake failed: \(verification.reason)" }
        if let tls = error as? NIOSSLError { return TLSFailureDescription.describe(tls) }
        if let tls = error as? NIOSSLExtraError { return TLSFailureDescription.describe(tls) }
        if error is ChannelError { return "connection closed before an answer" }
        return "\(error)"
    }
}
