import LBStore

/// Why a backend restored down at a start was down, from the last status change this daemon
/// recorded of it: the check, the traffic or the outlier ejection that took it down (a restore
/// of one is followed back to it), so the restore's record says which.
struct RestoredDown {
    /// The change that took it down, nil when none was found (an old record, a pruned log).
    let change: Event?
    /// The outlier ejection still running at the start, if it was one.
    let ejection: (until: Timestamp, ejections: Int)?

    init(latest: Event?, at now: Timestamp) {
        let data = latest?.data
        change = data?.to == "down" ? latest : nil
        if let data, data.to == "down", let until = data.ejectedUntil, until > now.milliseconds {
            ejection = (Timestamp(milliseconds: until), data.ejections ?? 1)
        } else {
            ejection = nil
        }
    }

    /// The cause as recorded, a restore of a restore keeping the first one's.
    private var cause: EventCause? {
        guard let data = change?.data else { return nil }
        if data.cause == .restore {
            if data.ejectedUntil != nil { return .outlier }
            switch data.evidence?.first?.source {
            case .request?: return .traffic
            case .admin?: return .admin
            case .check?: return .check
            case nil: return nil
            }
        }
        return data.cause
    }

    /// Where the evidence came from: a request for traffic and outlier causes, else a check.
    var source: Evidence.Source {
        switch cause {
        case .traffic?, .outlier?, .request?: .request
        case .admin?: .admin
        default: .check
        }
    }

    /// The request that took it down, for a traffic cause.
    var requestID: String? {
        guard cause == .traffic else { return nil }
        return change?.data?.cause == .restore ? change?.data?.evidence?.first?.requestID : change?.requestID
    }

    /// "traffic", "check", "outlier", or "cause not recorded".
    var causeText: String {
        guard let cause else { return "cause not recorded" }
        return "by \(cause.rawValue)"
    }

    /// The evidence's error: what took it down, in the words of its record.
    var evidenceText: String {
        guard let change, let detail = change.detail else { return "recorded down before the restart" }
        if change.data?.cause == .restore, let first = change.data?.evidence?.first?.error { return first }
        // "up->down cause=traffic: 4 failed tries…" → what follows the cause's name.
        let said = detail.range(of: "cause=").map { String(detail[$0.upperBound...]) } ?? detail
        return "recorded down before the restart (\(said))"
    }
}
