#!/usr/bin/env python3
"""Turns the records scripts/bench collected into the Markdown report it prints and saves.

Input: a file of records, one a line, each a tab-separated list of key=value; the key `kind`
says what the record is (meta, main, algorithm, events, failure, big, idle); events and failure
records say with `events=recorded|discarded` whether lbserver ran with --discard-events.
Output: Markdown on stdout.
Usage: report.py RECORDS_FILE
"""
import sys

MIB = 1024 * 1024


def load(path):
    records = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            record = {}
            for field in line.split("\t"):
                key, _, value = field.partition("=")
                record[key] = value
            records.append(record)
    return records


def number(record, key, default=None):
    value = record.get(key, "")
    try:
        return float(value)
    except ValueError:
        return default


def rate(record):
    """Requests per second over wrk's own measured duration."""
    return summed_rate([record])


def cpu_per_request(record, clock_ticks):
    """(all, user) CPU microseconds per request of the proxy during the run, or None."""
    return summed_cpu([record], clock_ticks)


def cpu_text(cpu):
    return "—" if cpu is None else f"{cpu[0]:.1f} µs ({cpu[1]:.1f})"


def mib_per_second(record):
    return number(record, "bytes", 0) / MIB / max(number(record, "duration_us", 1) / 1e6, 1e-9)


def socket_errors(record):
    return int(sum(number(record, key, 0) for key in ("connect", "read", "write", "timeout")))


def errors_text(record):
    """Non-2xx plus socket errors, with the parts spelled out when there are any."""
    status, sockets = int(number(record, "status", 0)), socket_errors(record)
    if not completed(record) and status + sockets == 0:
        return "0, but **no response completed**"
    if status + sockets == 0:
        return "0"
    parts = []
    if status:
        parts.append(f"{status} non-2xx")
    for key in ("connect", "read", "write", "timeout"):
        if number(record, key, 0):
            parts.append(f"{int(number(record, key))} {key}")
    return f"{status + sockets} ({', '.join(parts)})"


def latency(us):
    if us is None:
        return "—"
    return f"{us:.0f} µs" if us < 1000 else f"{us / 1000:.2f} ms"


def ratio(value, reference):
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}×"


def mib(kb):
    return "—" if kb is None else f"{kb / 1024:.1f} MiB"


def size(byte_count):
    if byte_count is None:
        return "—"
    if abs(byte_count) >= MIB:
        return f"{byte_count / MIB:+.1f} MiB"
    return f"{byte_count / 1024:+.0f} KiB"


def events_per_second(record):
    before, after = number(record, "events_before"), number(record, "events_after")
    if before is None or after is None:
        return None
    return (after - before) / max(number(record, "duration_us", 1) / 1e6, 1e-9)


def db_growth(record):
    before, after = number(record, "db_before"), number(record, "db_after")
    return None if before is None or after is None else after - before


def completed(record):
    return number(record, "requests", 0) > 0


def percentile(record, key):
    """A latency percentile, or None when no request completed (wrk then reports 0)."""
    return number(record, key) if completed(record) else None


def check_text(record):
    """The single GET made before the run: did the whole body arrive?"""
    if "check_complete" not in record:
        return "—"
    seconds = number(record, "check_seconds", 0)
    if record["check_complete"] == "yes":
        return f"complete in {seconds * 1000:.0f} ms"
    return (f"**incomplete**: HTTP {record.get('check_status', '?')}, "
            f"{int(number(record, 'check_received', 0)):,} of {int(number(record, 'check_length', -1)):,} "
            f"body bytes in {seconds:.1f} s")


def recorded(record):
    """Whether lbserver wrote its events in this run (records from before --discard-events did)."""
    return record.get("events", "recorded") == "recorded"


def mean(values):
    return sum(values) / len(values) if values else None


def recording_cost(rows):
    """What recording events costs in requests/s, from runs with events recorded and discarded:
    (mean discarded - mean recorded) / mean discarded, the rates of each, and the largest spread
    between runs of the same mode; None when either mode has no run."""
    with_events = [rate(r) for r in rows if recorded(r)]
    without = [rate(r) for r in rows if not recorded(r)]
    if not with_events or not without:
        return None
    spread = max((max(v) - min(v)) / mean(v) for v in (with_events, without))
    return (mean(without) - mean(with_events)) / mean(without), with_events, without, spread


def runs_text(rates):
    """Each run's requests/s, then their mean in bold."""
    return " · ".join(f"{value:,.0f}" for value in rates) + f" → **{mean(rates):,.0f}**"


def threads_text(record):
    return "2 × 1 (backends)" if record["target"] == "direct" else record.get("threads", "—")


def head_to_head(main_rows, round_rows):
    """The 1-thread samples of lbserver, nginx-proxy and HAProxy: the main table's run (round 0)
    and each alternating round, as {round: {target: record}}, with only complete rounds kept."""
    rounds = {}
    for r in main_rows:
        if r.get("threads") == "1" and r["target"] in ("lbserver", "nginx-proxy", "haproxy"):
            rounds.setdefault(0, {})[r["target"]] = r
    for r in round_rows:
        rounds.setdefault(int(number(r, "round", 0)), {})[r["target"]] = r
    return {k: v for k, v in sorted(rounds.items()) if "lbserver" in v and "nginx-proxy" in v}


def summed_rate(rows):
    """Requests/s over several runs: all their requests over all their measured time."""
    return (sum(number(r, "requests", 0) for r in rows)
            / max(sum(number(r, "duration_us", 1) for r in rows) / 1e6, 1e-9))


def summed_cpu(rows, clock_ticks):
    """CPU µs per request over several runs, as (all, user), or None."""
    user = [number(r, "cpu_user_ticks") for r in rows]
    system = [number(r, "cpu_system_ticks") for r in rows]
    requests = sum(number(r, "requests", 0) for r in rows)
    if None in user or None in system or not requests or not clock_ticks:
        return None
    return (sum(user) + sum(system)) * 1e6 / clock_ticks / requests, sum(user) * 1e6 / clock_ticks / requests


def main():
    records = load(sys.argv[1])
    meta = {}
    for record in records:
        if record.get("kind") == "meta":
            meta.update({k: v for k, v in record.items() if k != "kind"})
    main_rows = [r for r in records if r.get("kind") == "main"]
    nginx_by_threads = {r["threads"]: r for r in main_rows if r["target"] == "nginx-proxy"}
    out = []
    say = out.append

    say(f"Taken {meta.get('date', '?')} on {meta.get('cpu', '?')} ({meta.get('nproc', '?')} CPUs), "
        f"Linux {meta.get('kernel', '?')}; lbserver built `-c release --static-swift-stdlib --experimental-lto-mode=full` from {meta.get('commit', '?')}.")
    say(f"Every client is `{meta.get('wrk', 'wrk')}` after a {meta.get('warmup', '?')} s warm-up "
        f"({meta.get('versions', '')}); wrk, the proxy and both backends share the same "
        f"{meta.get('nproc', '?')} CPUs.")
    say("")
    clock_ticks = number(meta, "clk_tck")
    say("| target | threads | requests/s | p50 | p99 | errors | req/s vs nginx-proxy | p99 vs nginx-proxy "
        "| CPU per request (user) | CPU vs nginx-proxy | events/s | DB growth |")
    say("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in main_rows:
        reference = nginx_by_threads.get(r.get("threads"))
        if r["target"] == "direct":
            reference = nginx_by_threads.get("1")
        events = events_per_second(r)
        cpu = cpu_per_request(r, clock_ticks)
        reference_cpu = cpu_per_request(reference, clock_ticks) if reference else None
        say(f"| {r['target']} | {threads_text(r)} | {rate(r):,.0f} | {latency(number(r, 'p50_us'))} | "
            f"{latency(number(r, 'p99_us'))} | {errors_text(r)} | "
            f"{ratio(rate(r), rate(reference) if reference else None)} | "
            f"{ratio(number(r, 'p99_us'), number(reference, 'p99_us') if reference else None)} | "
            f"{cpu_text(cpu)} | {ratio(cpu[0] if cpu else None, reference_cpu[0] if reference_cpu else None)} | "
            f"{'—' if events is None else f'{events:,.0f}'} | {size(db_growth(r))} |")
    say("")
    say("`direct`: both nginx backends hit at once by two wrk processes with half the connections each; "
        "requests/s summed, p50/p99 the worse of the two; its ratios are against nginx-proxy with 1 thread. "
        "errors = wrk's \"Non-2xx or 3xx responses\" + its socket errors. "
        "events/s and DB growth: rows added to `events` and bytes added to the database file + WAL during the measured run. "
        "CPU per request: the proxy's user + system CPU time during the measured run (all its processes and threads, "
        "from /proc) divided by the requests it served; user-space time alone in brackets. With one thread the proxy's "
        "core is the bottleneck, so this ratio is the steadier measure of the same thing as requests/s.")

    round_rows = [r for r in records if r.get("kind") == "round"]
    rounds = head_to_head(main_rows, round_rows)
    if round_rows and rounds:
        say("")
        say("**1 thread, head to head** (the same three proxies again, all running at once and measured in turn, "
            "the order rotating each round; round 0 is the main table's run):")
        say("")
        say("| round | lbserver | nginx-proxy | haproxy | lbserver vs nginx-proxy | CPU per request: lbserver · nginx-proxy "
            "| CPU vs nginx-proxy |")
        say("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for index, row in rounds.items():
            lb, nginx, haproxy = row["lbserver"], row["nginx-proxy"], row.get("haproxy")
            lb_cpu, nginx_cpu = cpu_per_request(lb, clock_ticks), cpu_per_request(nginx, clock_ticks)
            say(f"| {index} | {rate(lb):,.0f} | {rate(nginx):,.0f} | {'—' if haproxy is None else f'{rate(haproxy):,.0f}'} | "
                f"{ratio(rate(lb), rate(nginx))} | {cpu_text(lb_cpu)} · {cpu_text(nginx_cpu)} | "
                f"{ratio(lb_cpu[0] if lb_cpu else None, nginx_cpu[0] if nginx_cpu else None)} |")
        every = list(rounds.values())
        lb_all = [row["lbserver"] for row in every]
        nginx_all = [row["nginx-proxy"] for row in every]
        haproxy_all = [row["haproxy"] for row in every if "haproxy" in row]
        lb_cpu, nginx_cpu = summed_cpu(lb_all, clock_ticks), summed_cpu(nginx_all, clock_ticks)
        say(f"| all | **{summed_rate(lb_all):,.0f}** | **{summed_rate(nginx_all):,.0f}** | "
            f"{f'**{summed_rate(haproxy_all):,.0f}**' if haproxy_all else '—'} | "
            f"**{ratio(summed_rate(lb_all), summed_rate(nginx_all))}** | {cpu_text(lb_cpu)} · {cpu_text(nginx_cpu)} | "
            f"{ratio(lb_cpu[0] if lb_cpu else None, nginx_cpu[0] if nginx_cpu else None)} |")
        say("")
        say("all = every round's requests over every round's measured time.")

    algorithm_rows = [r for r in records if r.get("kind") == "algorithm"]
    if algorithm_rows:
        first = algorithm_rows[0]
        say("")
        say("**Per balancing algorithm** (lbserver, 1 thread, `--algorithm` as named, same wrk settings, "
            "one run after another on the same two backends):")
        say("")
        say(f"| algorithm | requests/s | p50 | p99 | errors | req/s vs {first['algorithm']} |")
        say("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in algorithm_rows:
            say(f"| {r['algorithm']} | {rate(r):,.0f} | {latency(percentile(r, 'p50_us'))} | "
                f"{latency(percentile(r, 'p99_us'))} | {errors_text(r)} | {ratio(rate(r), rate(first))} |")
        say("")
        say("`hash` keys on the client address here, and every wrk connection comes from 127.0.0.1: "
            "all of its requests go to one backend, so its row measures the cost of the pick, not a spread.")

    healthy = next((r for r in main_rows if r["target"] == "lbserver" and r.get("threads") == "1"), None)
    failure_rows = [r for r in records if r.get("kind") == "failure"]
    if failure_rows:
        first = failure_rows[0]
        say("")
        say(f"**One backend killed** (lbserver, 1 thread; SIGKILL to one nginx backend "
            f"{float(first.get('kill_at_s', 0)):.1f} s into the {number(first, 'duration_us', 0) / 1e6:.1f} s run"
            + ("" if all(recorded(r) for r in failure_rows) else
               "; each run on two fresh backends, with events recorded and with `--discard-events` in turn") + "):")
        say("")
        say("| run | events | requests/s | vs healthy | non-2xx | socket errors | p99 | events written | events/s | DB growth |")
        say("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for index, r in enumerate(failure_rows, 1):
            events = events_per_second(r)
            written = None if events is None else int(number(r, "events_after") - number(r, "events_before"))
            say(f"| {index} | {r.get('events', 'recorded')} | {rate(r):,.0f} | "
                f"{ratio(rate(r), rate(healthy) if healthy else None)} | "
                f"{int(number(r, 'status', 0))} | {socket_errors(r)} | {latency(percentile(r, 'p99_us'))} | "
                f"{'—' if written is None else f'{written:,}'} | {'—' if events is None else f'{events:,.1f}'} | "
                f"{size(db_growth(r))} |")
        say("")
        for index, r in enumerate(failure_rows, 1):
            if recorded(r):
                say(f"Events written during run {index}, by kind: {r.get('event_kinds') or 'none'}.")

    healthy_rows = [r for r in records if r.get("kind") == "events" and r.get("traffic") == "healthy"]
    costs = {traffic: recording_cost(rows) for traffic, rows in
             (("one backend killed", failure_rows), ("healthy", healthy_rows)) if recording_cost(rows)}
    if costs:
        say("")
        say("**What recording events costs** (lbserver, 1 thread, same wrk settings; the same run with events "
            "recorded and with `--discard-events`, alternated; requests/s of each run, then the mean):")
        say("")
        say("| traffic | events recorded | events discarded | cost | largest spread between runs of one mode |")
        say("| --- | ---: | ---: | ---: | ---: |")
        for traffic, (cost, with_events, without, spread) in costs.items():
            say(f"| {traffic} | {runs_text(with_events)} | {runs_text(without)} | {cost * 100:+.1f}% | "
                f"{spread * 100:.1f}% |")
        say("")
        say("cost = (discarded − recorded) / discarded, on the means; a negative cost means the runs with events "
            "recorded were the faster ones. A cost smaller than the spread between runs of one mode is within "
            "this machine's noise. Healthy traffic writes no per-request events (only failures do), so its row "
            "shows the noise of the comparison itself.")

    big_rows = [r for r in records if r.get("kind") == "big"]
    if big_rows:
        big_reference = next((r for r in big_rows if r["target"] == "nginx-proxy"), None)
        say("")
        say("**1 MiB response body** (static file on the backends, same wrk settings):")
        say("")
        say("| target | threads | MiB/s | requests/s | p99 | errors | MiB/s vs nginx-proxy | lbserver RSS before → peak | one GET before the run |")
        say("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in big_rows:
            memory = "—"
            if r["target"] == "lbserver":
                peak = max(number(r, "rss_peak_kb", 0), number(r, "hwm_kb", 0))
                memory = f"{mib(number(r, 'rss_before_kb'))} → {mib(peak)}"
            say(f"| {r['target']} | {threads_text(r)} | {mib_per_second(r):,.1f} | {rate(r):,.0f} | "
                f"{latency(percentile(r, 'p99_us'))} | {errors_text(r)} | "
                f"{ratio(mib_per_second(r), mib_per_second(big_reference) if big_reference else None)} | {memory} | "
                f"{check_text(r)} |")
        say("")
        say(f"A proxy that held whole bodies would need about {meta.get('connections', '?')} MiB "
            f"({meta.get('connections', '?')} connections × 1 MiB) more at the peak. "
            "Peak = the larger of VmRSS sampled every 100 ms and VmHWM. MiB/s counts every byte wrk read, "
            "including those of responses that never completed.")

    for r in (x for x in records if x.get("kind") == "idle"):
        before, after = number(r, "rss_before_kb"), number(r, "rss_after_kb")
        opened = int(number(r, "opened", 0))
        per = (after - before) / opened if opened and before is not None and after is not None else None
        say("")
        say(f"**Idle keep-alive clients** (lbserver, {r.get('threads')} thread): {opened} connections opened, "
            f"{int(number(r, 'ok', 0))} answered 2xx, {int(number(r, 'still_open', 0))} still open after the reading; "
            f"VmRSS {mib(before)} before → **{mib(after)}** with them open"
            + ("" if per is None else f" ({per:.1f} KiB each)") + ".")

    # The bars of issue 5, read off the numbers above.
    say("")
    say("Bars of issue 5 in this run:")
    say("")
    one = nginx_by_threads.get("1")
    if healthy and one:
        r, p = rate(healthy) / rate(one), number(healthy, "p99_us") / number(one, "p99_us")
        if len(rounds) > 1:
            # Judged on every 1-thread run together; the main table's single run is one of them.
            per_round = [rate(row["lbserver"]) / rate(row["nginx-proxy"]) for row in rounds.values()]
            r = summed_rate([row["lbserver"] for row in rounds.values()]) / summed_rate(
                [row["nginx-proxy"] for row in rounds.values()])
            say(f"- requests/s with 1 thread ≥ 0.8 × nginx-proxy: {r:.2f}× over {len(rounds)} runs each "
                f"(single runs {min(per_round):.2f}–{max(per_round):.2f}×) — {'met' if r >= 0.8 else 'NOT met'}"
                f"{' (and ≥ 1.0×, the aim)' if r >= 1.0 else ''}")
        else:
            say(f"- requests/s with 1 thread ≥ 0.8 × nginx-proxy: {r:.2f}× — {'met' if r >= 0.8 else 'NOT met'}"
                f"{' (and ≥ 1.0×, the aim)' if r >= 1.0 else ''}")
        cpu_lb, cpu_nginx = cpu_per_request(healthy, clock_ticks), cpu_per_request(one, clock_ticks)
        if len(rounds) > 1:
            cpu_lb = summed_cpu([row["lbserver"] for row in rounds.values()], clock_ticks)
            cpu_nginx = summed_cpu([row["nginx-proxy"] for row in rounds.values()], clock_ticks)
        if cpu_lb and cpu_nginx:
            # Not a bar of its own: the steadier reading of the requests/s bar on a shared machine.
            say(f"  - the same by CPU per request (the single-threaded proxy's core is the bottleneck): "
                f"{cpu_nginx[0] / cpu_lb[0]:.2f}× nginx-proxy's efficiency ({cpu_lb[0]:.1f} µs against {cpu_nginx[0]:.1f} µs)")
        say(f"- p99 with 1 thread ≤ 1.25 × nginx-proxy: {p:.2f}× — {'met' if p <= 1.25 else 'NOT met'}")
    failures_recorded = [r for r in failure_rows if recorded(r)]
    if failures_recorded:
        runs = f"{len(failures_recorded)} run{'s' if len(failures_recorded) > 1 else ''} with events recorded"
        non2xx = int(sum(number(r, "status", 0) for r in failures_recorded))
        say(f"- one backend dead, zero non-2xx: {non2xx} ({runs}) — {'met' if non2xx == 0 else 'NOT met'}")
        if healthy:
            q = mean([rate(r) for r in failures_recorded]) / rate(healthy)
            say(f"- one backend dead, requests/s ≥ 0.8 × healthy: {q:.2f}× (mean of {runs}) — "
                f"{'met' if q >= 0.8 else 'NOT met'}")
    for r in (x for x in records if x.get("kind") == "idle"):
        after = number(r, "rss_after_kb", 0) / 1024
        say(f"- {int(number(r, 'opened', 0))} idle connections under 64 MiB resident: {after:.1f} MiB — "
            f"{'met' if after < 64 else 'NOT met'}")
    big_lb = next((r for r in big_rows if r["target"] == "lbserver"), None)
    big_nginx = next((r for r in big_rows if r["target"] == "nginx-proxy"), None)
    if big_lb and big_nginx:
        t = mib_per_second(big_lb) / max(mib_per_second(big_nginx), 1e-9)
        growth = (max(number(big_lb, "rss_peak_kb", 0), number(big_lb, "hwm_kb", 0))
                  - number(big_lb, "rss_before_kb", 0)) / 1024
        held = float(meta.get("connections", "64"))
        say(f"- 1 MiB body within 2× of nginx-proxy's throughput: {t:.2f}× — {'met' if t >= 0.5 else 'NOT met'}"
            + ("" if completed(big_lb) else " (no 1 MiB response completed through lbserver)"))
        if completed(big_lb):
            say(f"- 1 MiB body not buffered whole: RSS grew {growth:.1f} MiB at the peak, against ≈{held:.0f} MiB "
                f"if every in-flight body were held — {'met' if growth < held / 2 else 'NOT met'}")
        else:
            say(f"- 1 MiB body not buffered whole: not judged — no response completed (RSS grew {growth:.1f} MiB)")
    if "one backend killed" in costs:
        cost, with_events, without, spread = costs["one backend killed"]
        healthy_cost = costs.get("healthy")
        say(f"- recording events costs ≤ 5% of requests/s: {cost * 100:.1f}% — {'met' if cost <= 0.05 else 'NOT met'} "
            f"(one backend killed, mean of {len(with_events)} run(s) recorded and {len(without)} discarded, "
            f"runs of one mode {spread * 100:.0f}% apart"
            + ("" if healthy_cost is None else f"; healthy traffic: {healthy_cost[0] * 100:.1f}%") + ")")
    else:
        say("- recording events costs ≤ 5% of requests/s: not measured in this run (no run with `--discard-events`)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
