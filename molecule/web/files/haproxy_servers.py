#!/usr/bin/python3
"""Print HAProxy's view of the `web` backend's servers as one JSON object, from its admin
socket's `show stat`: {server: {"status": "UP"|"DOWN"|..., "redispatched": n}}."""

from __future__ import annotations

import json
import socket

with socket.socket(socket.AF_UNIX) as sock:
    sock.connect("/run/haproxy/admin.sock")
    sock.sendall(b"show stat\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
rows = data.decode().splitlines()
header = rows[0].lstrip("# ").split(",")
servers = {}
for row in rows[1:]:
    stat = dict(zip(header, row.split(","), strict=False))
    if stat.get("pxname") == "web" and stat.get("svname") not in ("FRONTEND", "BACKEND"):
        servers[stat["svname"]] = {
            "status": stat["status"], "redispatched": int(stat["wredis"] or 0)}
print(json.dumps(servers))
