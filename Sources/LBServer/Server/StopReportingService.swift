import ServiceLifecycle

/// Runs `base` and reaches `stopped` when its `run` ends, however it ends, so that a service it
/// depends on can wait for it even when the group cancels every service at once.
struct StopReportingService: Service, CustomStringConvertible {
    let base: any Service
    let stopped: Milestone<Void>

    var description: String { "\(base)" }

    func run() async throws {
        defer { stopped.reach(()) }
        try await base.run()
    }
}
