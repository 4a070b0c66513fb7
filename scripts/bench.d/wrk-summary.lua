-- Loaded by scripts/bench into every wrk run: prints wrk's own totals as one machine-readable line
-- after wrk's usual report. Defining only `done` keeps wrk on its fast path (static request, no
-- per-response Lua call). Latencies are in microseconds; `status` is wrk's "Non-2xx or 3xx
-- responses" count; connect/read/write/timeout are its socket errors.
done = function(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        "BENCH requests=%.0f duration_us=%.0f bytes=%.0f p50_us=%.0f p99_us=%.0f " ..
        "connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(99),
        errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
