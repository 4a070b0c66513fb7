#!/usr/bin/env python3
"""Opens COUNT keep-alive client connections to 127.0.0.1:PORT and holds them idle.

Each connection sends one `GET PATH HTTP/1.1` (keep-alive) and reads the whole response, one
connection after another, so the proxy sees COUNT idle keep-alive clients and no traffic.
Then it writes "ready opened=N ok=M" to READY_FILE and waits (at most HOLD seconds) until
RELEASE_FILE exists, checks how many connections the server has not closed, prints a summary
line and closes them all.

Usage: idle-connections.py PORT COUNT READY_FILE RELEASE_FILE [HOLD_SECONDS] [PATH]
"""
import os
import select
import socket
import sys
import time

port, count = int(sys.argv[1]), int(sys.argv[2])
ready_file, release_file = sys.argv[3], sys.argv[4]
hold = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
path = sys.argv[6] if len(sys.argv) > 6 else "/"
request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n\r\n".encode()
deadline = time.monotonic() + 60  # for opening and one request on each: bounded, whatever happens


def read_response(sock):
    """Reads one response with a Content-Length body; returns its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked response: this script expects Content-Length")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        body += chunk
    return status


sockets, ok, failures = [], 0, []
for _ in range(count):
    if time.monotonic() > deadline:
        failures.append("deadline passed while opening")
        break
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sockets.append(sock)
    try:
        sock.sendall(request)
        status = read_response(sock)
        if 200 <= status < 300:
            ok += 1
        else:
            failures.append(f"status {status}")
    except (OSError, ValueError) as error:
        failures.append(str(error))

with open(ready_file + ".tmp", "w") as f:
    f.write(f"ready opened={len(sockets)} ok={ok}\n")
os.rename(ready_file + ".tmp", ready_file)

release_by = time.monotonic() + hold
while not os.path.exists(release_file) and time.monotonic() < release_by:
    time.sleep(0.05)

# A connection the server closed is readable (EOF); an open idle one is not.
still_open = 0
for sock in sockets:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        still_open += 1
    else:
        try:
            if sock.recv(1, socket.MSG_PEEK):
                still_open += 1  # unexpected bytes, but the connection is open
        except OSError:
            pass
for sock in sockets:
    sock.close()
print(f"opened={len(sockets)} ok={ok} still_open={still_open} failures={len(failures)}"
      + (f" first_failure={failures[0]!r}" if failures else ""))
