#!/usr/bin/python3
"""Send COUNT directory lookups, as FreeSWITCH's mod_xml_curl does (a new connection and a form
POST each), and print one JSON line: how many answered 200 with ``<user id="USER"``, and the
first failures (status or error, and the start of the body).

With WAIT_DOWN (host:port), first wait until that address refuses connections, then send the
lookups at once: they reach the proxy while its health checks still count the node in.

usage: lookups.py URL DOMAIN USER COUNT [WAIT_DOWN]
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def lookup(url: str, domain: str, user: str) -> tuple[int, str]:
    """(HTTP status, body) of one user_call lookup; status 0 when no answer came."""
    body = urllib.parse.urlencode({
        "section": "directory", "tag_name": "domain", "key_name": "name",
        "key_value": domain, "action": "user_call", "user": user, "domain": domain,
    }).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def wait_down(address: str, timeout_s: float = 60.0) -> float:
    """Seconds waited until ``address`` refused a connection; SystemExit after timeout_s."""
    host, _, port = address.rpartition(":")
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            return time.monotonic() - start
        time.sleep(0.02)
    raise SystemExit(f"{address} still accepts connections after {timeout_s:.0f} s")


def main(url: str, domain: str, user: str, count: str, down: str = "") -> None:
    waited = wait_down(down) if down else 0.0
    start = time.monotonic()
    found = 0
    failures = []
    for n in range(int(count)):
        status, text = lookup(url, domain, user)
        if status == 200 and f'<user id="{user}"' in text:
            found += 1
        else:
            failures.append({"n": n, "status": status, "body": text[:200]})
    print(json.dumps({"sent": int(count), "found": found, "failures": failures[:5],
                      "waited_s": round(waited, 2),
                      "took_s": round(time.monotonic() - start, 2)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
