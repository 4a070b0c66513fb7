import LBStore

extension AuditReport {
    /// The report as JSON; the shape is documented in the README and stable.
    var json: JSONValue {
        .object([
            ("from", .string(TimeText.rfc3339(range.start))),
            ("to", .string(TimeText.rfc3339(range.end))),
            ("generated_at", .string(TimeText.rfc3339(generatedAt))),
            ("counts", .object([
                ("failures", .integer(Int64(counts.failures))),
                ("retries", .integer(Int64(counts.retries))),
                ("attempts", .integer(Int64(counts.attempts))),
                ("rejected", .integer(Int64(counts.rejected))),
                ("503", .integer(Int64(counts.serviceUnavailable))),
            ])),
            ("first_failure", firstFailure.map(EventFormatter.json) ?? .null),
            ("last_failure", lastFailure.map(EventFormatter.json) ?? .null),
            ("requests_affected", .object([
                ("count", .integer(Int64(requests.count))),
                ("sample", .array(requests.sample.map(JSONValue.string))),
            ])),
            ("backends", .array(lanes.map { lane in
                .object([
                    ("url", .string(lane.backend.url)),
                    ("state_at_start", .string(lane.stateAtStart.rawValue)),
                    ("state_at_end", .string(lane.stateAtEnd.rawValue)),
                    ("downtime_ms", .integer(lane.downtimeMilliseconds)),
                    ("drained_ms", .integer(lane.drainedMilliseconds)),
                    ("failures", .integer(Int64(failuresByBackend[lane.backend.id] ?? 0))),
                    ("retries", .integer(Int64(retriesByBackend[lane.backend.id] ?? 0))),
                    ("segments", .array(lane.segments.map { segment in
                        .object([
                            ("from", .string(TimeText.rfc3339(segment.range.start))),
                            ("to", .string(TimeText.rfc3339(segment.range.end))),
                            ("state", .string(segment.state.rawValue)),
                        ])
                    })),
                ])
            })),
            ("timeline", .array(timeline.map(EventFormatter.json))),
            ("first_record", .optional(coverage.firstRecord.map(TimeText.rfc3339))),
            ("pruned_before", .optional(coverage.prunedBefore.map(TimeText.rfc3339))),
            ("prune", coverage.prune.map(EventFormatter.json) ?? .null),
            ("no_record", coverage.noRecord.map(Self.span) ?? .null),
            ("no_balancer", .array(coverage.noBalancer.map(Self.span))),
            ("outages", .array(outages.map(Self.span))),
        ])
    }

    /// `{"from", "to", "duration_ms"}`.
    private static func span(_ range: TimeRange) -> JSONValue {
        .object([
            ("from", .string(TimeText.rfc3339(range.start))),
            ("to", .string(TimeText.rfc3339(range.end))),
            ("duration_ms", .integer(range.durationMilliseconds)),
        ])
    }
}
