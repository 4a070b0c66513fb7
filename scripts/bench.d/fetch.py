#!/usr/bin/env python3
"""GETs PATH from 127.0.0.1:PORT once and says whether the whole body arrived within SECONDS.

Prints one line: `status=200 length=1048576 received=1048576 complete=yes seconds=0.004`
(`received` counts body bytes; `length` is the Content-Length, or -1 if there was none).
Usage: fetch.py PORT PATH [SECONDS]
"""
import socket
import sys
import time

port, path = int(sys.argv[1]), sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
start = time.monotonic()
status, length, received, data = 0, -1, 0, b""
try:
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        while time.monotonic() - start < limit:
            sock.settimeout(max(0.01, limit - (time.monotonic() - start)))
            chunk = sock.recv(262144)
            if not chunk:
                break
            data += chunk
            if status == 0 and b"\r\n\r\n" in data:
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                status = int(lines[0].split()[1])
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
            if status:
                received += len(data)
                data = b""
                if 0 <= length <= received:
                    break
except OSError:
    pass
complete = "yes" if status and length >= 0 and received >= length else "no"
print(f"status={status} length={length} received={received} complete={complete} "
      f"seconds={time.monotonic() - start:.3f}")
