"""What scripts/bench-ab and scripts/bench-tls share: ports, readiness, CPU from /proc, nginx
configurations and wrk runs."""
import os
import re
import socket
import ssl
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, process, name, tls=False, deadline_seconds=20):
    """Polls until 127.0.0.1:port answers GET / with 200 (over TLS, unverified, with `tls`)."""
    deadline = time.monotonic() + deadline_seconds
    context = ssl._create_unverified_context() if tls else None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                s = context.wrap_socket(raw, server_hostname="localhost") if context else raw
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{name} did not answer 200 on 127.0.0.1:{port}")


def cpu_seconds(pid):
    """User + system CPU time of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def nginx_config(folder, server_block, workers=None):
    """An nginx.conf in `folder` for one foreground nginx (no master, or `workers` of them)."""
    os.makedirs(os.path.join(folder, "tmp"), exist_ok=True)
    user = "user root;" if os.getuid() == 0 else ""
    process = f"worker_processes {workers};" if workers else "master_process off;"
    path = os.path.join(folder, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""{user}
daemon off; {process} pid {folder}/nginx.pid; error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
    client_body_temp_path {folder}/tmp/c; proxy_temp_path {folder}/tmp/p; fastcgi_temp_path {folder}/tmp/f;
    uwsgi_temp_path {folder}/tmp/u; scgi_temp_path {folder}/tmp/s;
    {server_block}
}}
""")
    return path


def backend_block(port):
    return f'server {{ listen 127.0.0.1:{port}; location / {{ return 200 "hello\\n"; }} }}'


def wrk(url, threads, connections, duration, headers=(), latency=False):
    """One wrk run: requests/s, p99 in ms (with `latency`), requests, wall seconds, non-2xx count."""
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"]
    for header in headers:
        argv += ["-H", header]
    if latency:
        argv.append("--latency")
    output = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    wall = float(re.search(r"requests in ([\d.]+)s", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p99 = None
    match = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    if match:
        p99 = float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return requests / wall, p99, requests, wall, int(errors.group(1)) if errors else 0
