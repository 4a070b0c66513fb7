import ServiceLifecycle

extension HealthChecker: Service {
    /// Checks run on the checker's event loop from the first `track` on; as a service the checker
    /// only waits for the graceful shutdown (or cancellation) and then stops them, so that no
    /// result is recorded after the event writer has written the stop.
    func run() async {
        await shutdownRequested()
        await stop()
    }
}
