import Foundation

/// A `TaskExecutor` on threads of its own. The in-process async tests run there (with
/// `withTaskExecutorPreference`): the end-to-end tests poll by sleeping on Swift concurrency's few
/// threads, and on a 2-core machine they would starve an in-process daemon's service group. Actors
/// keep their exclusion on it; a job may run on either thread.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` is read and written only while holding `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    static let shared = DedicatedExecutor(name: "test-executor")

    init(name: String, threads: Int = 2) {
        for index in 0..<threads {
            let thread = Thread { [self] in runJobs() }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
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
            // One at a time, so that a long job on one thread leaves the rest to the other.
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Runs `body` with its tasks, and their child tasks, on the dedicated executor.
func onDedicatedExecutor<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(DedicatedExecutor.shared) { try await body() }
}
