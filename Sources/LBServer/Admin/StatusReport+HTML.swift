import LBText
import LBStore

extension StatusReport {
    /// The status page served at `/` on the admin listener: one self-contained HTML document
    /// (inline CSS, no external resources) with the backend table (each backend's last minute,
    /// why a down one is down) and each backend's recent checks as a strip drawn to time. A few
    /// lines of script fetch the page again every few seconds and swap the content in, so the page
    /// stays current without a reload flicker; without script it is still complete, only static.
    func html(generatedAt now: Timestamp = .now()) -> String {
        let up = backends.filter { $0.health == "up" }.count
        let down = backends.filter { $0.health == "down" }.count
        let notChecked = backends.filter { !$0.checked }.count
        let unknown = backends.count - up - down - notChecked
        let outOfRotation = backends.filter { $0.adminState != "enabled" }.count
        let available = backends.filter { $0.health != "down" && $0.adminState == "enabled" }
        // Backups wait while a primary can serve; they count as serving only when none can.
        let primaries = available.filter { !$0.backup }.count
        let standingBy = available.count - primaries
        let serving = primaries > 0 ? primaries : standingBy
        let servingNote = primaries > 0
            ? (standingBy > 0 ? "\(standingBy) backup\(standingBy == 1 ? "" : "s") standing by" : "enabled and not down")
            : (standingBy > 0 ? "backups only: no primary can serve" : "enabled and not down")
        var rows = ""
        for backend in backends {
            rows += row(for: backend, now: now)
        }
        if backends.isEmpty {
            rows = "<tr><td colspan=\"10\" class=\"empty\">No backends in the registry. Add one with "
                + "<code>lbctl add URL</code>.</td></tr>"
        }
        let databaseState = database.writable
            ? "<span class=\"ok\">writable</span>"
            : "<span class=\"bad\">not writable</span>"
        let databaseError = database.lastError.map { "<div class=\"note bad\">\($0.htmlEscaped)</div>" } ?? ""
        let servingClass = serving == 0 ? "bad" : (down > 0 || primaries == 0) ? "warn" : "ok"
        return """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="icon" href="data:,">
        <title>lbserver · \(listen.htmlEscaped)</title>
        <style>
        :root { color-scheme: light; --up: #1f9d55; --down: #d93f3f; --unknown: #9aa3ad; --warn: #c77c02;
                --line: #e3e6ea; --muted: #5f6b7a; --bg: #f6f7f9; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
               background: var(--bg); color: #1d2733; }
        header { background: #1d2733; color: #fff; padding: 14px 28px; display: flex; align-items: baseline;
                 gap: 18px; flex-wrap: wrap; }
        header h1 { font-size: 18px; margin: 0; font-weight: 650; }
        header span { color: #b8c2cc; }
        main { padding: 20px 28px 28px; max-width: 1280px; }
        .tiles { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 20px; }
        .tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px;
                min-width: 150px; }
        .tile b { display: block; font-size: 22px; font-weight: 650; }
        .tile small { color: var(--muted); }
        table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line);
                border-radius: 8px; overflow: hidden; }
        th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
             letter-spacing: .04em; padding: 9px 12px; border-bottom: 1px solid var(--line); background: #fafbfc; }
        td { padding: 10px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
        tr:last-child td { border-bottom: 0; }
        tr.out td.url, tr.out td.num { color: var(--muted); }
        td.url { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        .note.down { max-width: 300px; }
        th.num { text-align: right; }
        .badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
                 white-space: nowrap; }
        td.health { min-width: 220px; }
        .h-up { background: #e3f4ea; color: var(--up); } .h-down { background: #fbe5e5; color: var(--down); }
        .h-unknown { background: #eceff2; color: var(--muted); }
        .h-not_checked { background: #fff; color: var(--muted); border: 1px dashed #b8c0c8; }
        .a-enabled { background: #eceff2; color: #3b4754; } .a-drained { background: #fdf0d8; color: var(--warn); }
        .a-backup { background: #e6eefb; color: #2f5fb3; }
        .a-disabled { background: #e4e6ea; color: #5f6b7a; text-decoration: line-through; }
        .strip { position: relative; height: 20px; width: 300px; background: #edf0f3; border-radius: 2px; }
        .strip i { position: absolute; top: 0; bottom: 0; width: 4px; margin-left: -2px; border-radius: 1px; }
        .strip i.p { background: var(--up); } .strip i.f { background: var(--down); }
        .strip-caption { display: flex; justify-content: space-between; color: var(--muted); font-size: 11px;
                         width: 300px; margin-top: 2px; }
        td.dim { color: var(--muted); }
        .ok { color: var(--up); } .bad { color: var(--down); } .warn { color: var(--warn); }
        .note { margin-top: 4px; font-size: 12px; }
        .empty { color: var(--muted); text-align: center; padding: 24px; }
        footer { margin-top: 14px; color: var(--muted); font-size: 12px; }
        #stale { display: none; margin-bottom: 14px; padding: 8px 12px; border-radius: 6px; background: #fbe5e5;
                 color: var(--down); }
        </style>
        </head>
        <body>
        <header><h1>lbserver</h1><span>traffic on \(listen.htmlEscaped)</span>
        <span>algorithm \(algorithm.htmlEscaped)</span><span>started \(startedAt.htmlEscaped)</span></header>
        <main>
        <div id="stale">Cannot reach the admin listener; the figures below are from the last successful refresh.</div>
        <div class="tiles">
        <div class="tile"><small>serving</small><b class="\(servingClass)">\(serving) of \(backends.count)</b>
        <small>\(servingNote)</small></div>
        <div class="tile"><small>health</small><b><span class="ok">\(up) up</span> · <span class="\(down > 0 ? "bad" : "")">\(down) down</span></b>
        <small>\(unknown) unknown · \(notChecked) not checked</small></div>
        <div class="tile"><small>out of rotation</small><b class="\(outOfRotation > 0 ? "warn" : "")">\(outOfRotation)</b>
        <small>drained or disabled</small></div>
        <div class="tile"><small>client connections</small><b>\(openConnections)</b><small>open now</small></div>
        <div class="tile"><small>event log</small><b>\(databaseState)</b>
        <small>\(database.eventsWritten) written · \(database.eventsDropped) dropped · \(database.eventsQueued) queued</small>\(databaseError)</div>
        </div>
        <table>
        <thead><tr><th>Backend</th><th>Health</th><th>Admin state</th><th class="num">Weight</th>
        <th class="num">In flight</th><th class="num" title="requests per second over the last minute">Req/s</th>
        <th class="num" title="failed tries and 5xx answers per second over the last minute">Err/s</th>
        <th class="num" title="median latency of its answers over the last minute">p50</th>
        <th class="num" title="99th percentile latency of its answers over the last minute">p99</th>
        <th>Recent checks</th></tr></thead>
        <tbody>
        \(rows)
        </tbody>
        </table>
        <footer>Updated <span id="updated">\(now.rfc3339)</span> · refreshes every 3 s ·
        <a href="/status">/status</a> (JSON) · <a href="/metrics">/metrics</a> (Prometheus) ·
        database \(database.path.htmlEscaped)</footer>
        </main>
        <script>
        setInterval(function () {
          fetch("/", { cache: "no-store" }).then(function (r) {
            if (!r.ok) throw new Error(r.status);
            return r.text();
          }).then(function (text) {
            var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
            if (fresh) document.querySelector("main").replaceWith(fresh);
          }).catch(function () {
            document.getElementById("stale").style.display = "block";
          });
        }, 3000);
        </script>
        </body>
        </html>

        """
    }

    private func row(for backend: BackendStatus, now: Timestamp) -> String {
        let checks = backend.recentChecks
        let passed = checks.filter(\.passed).count
        let caption = !backend.checked
            ? "not checked while \(backend.adminState)"
            : checks.isEmpty ? "no checks yet" : "\(passed) of the last \(checks.count) checks passed"
        let strip = Self.strip(checks, now: now)
        let inRotation = backend.adminState == "enabled"
        // Why a down backend is down: the status change the daemon recorded, as `lbctl why` has it.
        var reason = ""
        if let until = backend.ejectedUntil {
            reason = "<div class=\"note bad\">ejected as an outlier until \(until.htmlEscaped)</div>"
        }
        if let down = backend.down {
            let since = Self.sinceText(down.since, at: down.sinceMilliseconds, now: now)
            reason += "<div class=\"note bad down\" title=\"\(down.since.htmlEscaped) (cause: \(down.cause.htmlEscaped))\">"
                + "down since \(since.htmlEscaped)<br>\(down.detail.htmlEscaped)</div>"
        } else if backend.health == "down", let last = checks.last, !last.passed, let error = last.error {
            reason += "<div class=\"note bad down\">\(error.htmlEscaped)</div>"
        }
        let minute = backend.lastMinute
        func figure(_ value: Double?, unit: String = "") -> String {
            guard let value else { return "–" }
            return Self.decimal(value) + unit
        }
        let healthText = backend.health == "not_checked" ? "not checked" : backend.health
        return """
        <tr class="\(inRotation ? "" : "out")" data-backend="\(backend.url.htmlEscaped)"><td class="url">\(backend.url.htmlEscaped)</td>
        <td class="health"><span class="badge health h-\(backend.health.htmlEscaped)">\(healthText.htmlEscaped)</span>\(reason)</td>
        <td><span class="badge admin a-\(backend.adminState.htmlEscaped)">\(backend.adminState.htmlEscaped)</span>\(backend.backup ? " <span class=\"badge a-backup\">backup</span>" : "")</td>
        <td class="num">\(backend.weight)</td><td class="num">\(backend.inFlight)\(backend.maxConnections.map { " / \($0)" } ?? "")</td>
        <td class="num rps">\(figure(minute?.requestsPerSecond))</td>
        <td class="num eps\((minute?.errorsPerSecond ?? 0) > 0 ? " bad" : "")">\(figure(minute?.errorsPerSecond))</td>
        <td class="num p50">\(figure(minute?.p50Ms, unit: " ms"))</td><td class="num p99">\(figure(minute?.p99Ms, unit: " ms"))</td>
        <td><div class="strip">\(strip.cells)</div><div class="strip-caption"><span>\(caption)</span><span>\(strip.span)</span></div></td></tr>

        """
    }

    /// The checks as cells placed by time on a line from the oldest (at least a minute back) to
    /// `now`, so a pause between checks shows as a gap; and the caption of its span.
    static func strip(_ checks: [RecentCheck], now: Timestamp) -> (cells: String, span: String) {
        guard let oldest = checks.map(\.atMilliseconds).min() else { return ("", "") }
        let end = max(now.milliseconds, checks.map(\.atMilliseconds).max() ?? 0)
        let start = min(oldest, end - 60_000)
        let width = Double(end - start)
        var cells = ""
        for check in checks {
            let what = check.passed ? "passed" : "failed: \(check.error ?? "")"
            let title = "\(check.at) \(what) (\(Self.milliseconds(check.latencyMs)))"
            let left = (Double(check.atMilliseconds - start) / width * 1000).rounded() / 10
            cells += "<i class=\"\(check.passed ? "p" : "f")\" style=\"left:\(left)%\" title=\"\(title.htmlEscaped)\"></i>"
        }
        return (cells, "last \(Self.duration(milliseconds: end - start)) → now")
    }

    /// `04:10:28 UTC (3m 12s ago)`, the date added when it is not today's (UTC).
    static func sinceText(_ rfc3339: String, at milliseconds: Int64, now: Timestamp) -> String {
        let day: Int64 = 86_400_000
        let date = rfc3339.prefix(10), time = rfc3339.dropFirst(11).prefix(8)
        let when = milliseconds / day == now.milliseconds / day ? "\(time) UTC" : "\(date) \(time) UTC"
        return "\(when) (\(duration(milliseconds: max(0, now.milliseconds - milliseconds))) ago)"
    }

    /// `45s`, `3m 12s`, `2h 5m`, `3d 4h`.
    static func duration(milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(seconds % 60)s" }
        if seconds < 86_400 { return "\(seconds / 3600)h \(seconds % 3600 / 60)m" }
        return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h"
    }

    /// One decimal below 10, none above: `0.4`, `12`, `1530`.
    static func decimal(_ value: Double) -> String {
        value < 10 ? "\((value * 10).rounded() / 10)" : "\(Int(value.rounded()))"
    }

    private static func milliseconds(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) ms"
    }

}
