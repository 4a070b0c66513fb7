#!/usr/bin/env python3
"""Prints COUNT distinct TCP ports that are free on 127.0.0.1 right now, one a line.

All sockets stay bound until every port is chosen, so the ports differ from each other; the
caller binds them a moment later (a small, accepted race on a machine nobody else is using)."""
import socket
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
sockets = []
try:
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    for s in sockets:
        print(s.getsockname()[1])
finally:
    for s in sockets:
        s.close()
