import Foundation

/// A `TaskExecutor` on a thread of its own. The in-process async tests run there (with
/// `withTaskExecutorPreference`): the end-to-end tests poll by sleeping on Swift concurrency's few
/// threads, and on a 2-core machine they would starve an in-process daemon's service group.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` is read and written only while holding `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    static let shared = DedicatedExecutor(name: "test-executor")

    init(name: String) {
        let thread = Thread { [self] in runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let ready = jobs
            jobs.removeAll()
            condition.unlock()
            for job in ready { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

/// Runs `body` with its tasks, and their child tasks, on the dedicated executor.
func onDedicatedExecutor<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(DedicatedExecutor.shared) { try await body() }
}
