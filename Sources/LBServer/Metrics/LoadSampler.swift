import NIOCore
import ServiceLifecycle

/// Samples every backend's `BackendStats` into its `LoadHistory` once a second, for the status
/// page's last minute; runs with the admin listener until the graceful shutdown or cancellation.
/// A sample is a few dozen atomic loads per backend, off the request path.
struct LoadSampler: Service, CustomStringConvertible {
    /// The backends to sample, read again each second (the registry changes).
    let backends: @Sendable () -> [BackendRuntime]
    var interval: Duration = .seconds(1)

    var description: String { "LoadSampler" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                Self.sample(backends())
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }

    /// Records each backend's totals now.
    static func sample(_ backends: [BackendRuntime], at now: NIODeadline = .now()) {
        for backend in backends {
            backend.loadHistory.record(backend.stats.snapshot(), at: now.uptimeNanoseconds)
        }
    }
}
