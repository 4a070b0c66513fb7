import LBStore
import NIOCore

/// What every client connection's proxy handler shares: the balancer, the connection pools,
/// the event sink and the settings. Immutable; each member is safe across threads.
struct ProxyContext: Sendable {
    let balancer: any Balancer
    /// What a request is keyed by for the balancer; nil unless the algorithm hashes.
    let hashKey: HashKey?
    let pools: UpstreamPools
    /// How clients reach the listener, `http` or `https`: the `X-Forwarded-Proto` backends get.
    let clientScheme: String
    let sink: EventSink
    let settings: ProxySettings
    /// Where each answered request is logged; nil without `--access-log`.
    let accessLog: AccessLog?
    /// Called when traffic marks a backend down, so its health is probed again soon.
    let markedDown: @Sendable (BackendRuntime) -> Void
    /// How many backends traffic has marked down lately, so that it never takes out more than
    /// half of them between two down-interval checks.
    let trafficMarkDowns: TrafficMarkDownGuard
    /// Passive outlier detection; nil when it is off (`--outlier-failures off`).
    var outliers: OutlierDetector? = nil
}
