"""Load generator for tests/bench/bench_web.py, run on a feature server with its python3
(standard library only): lookups to the local HAProxy, each on a new connection (HTTP/1.0, as
mod_xml_curl), and one JSON line of figures.

usage: python3 web_load.py MODE URL SECONDS N KIND SPEC
  MODE    open (N requests a second, on schedule) or closed (N clients as fast as they go)
  KIND    service (POST lookups built from SPEC's templates) or static (GET SPEC's path)
  SPEC    JSON: {"directory": body, "dialplan": body, "tenants": [ids], "domain": suffix,
          "users": n, "features": [numbers], "static": path}; the bodies hold the markers
          zzTENANTzz, zzDOMAINzz, zzUSERzz and zzNUMBERzz

Bounded: at most 100,000 requests and 120 s; every request times out after 10 s.
"""

import asyncio
import json
import random
import resource
import sys
import time
from urllib.parse import urlsplit

MAX_REQUESTS = 100_000
MAX_SECONDS = 120.0
TIMEOUT_S = 10.0


def requests(spec, kind, count, seed=7):
    """``count`` raw HTTP requests: half directory, half dialplan lookups of random users and
    features of random tenants (service), or the static file."""
    host = "127.0.0.1"
    if kind == "static":
        head = f"GET {spec['static']} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
        return [head] * count
    rng = random.Random(seed)
    out = []
    for n in range(count):
        tenant = rng.choice(spec["tenants"])
        domain = f"{tenant}.{spec['domain']}"
        user = str(1000 + rng.randrange(spec["users"]))
        if n % 2 == 0:
            body = spec["directory"]
            number = user
        else:
            body = spec["dialplan"]
            number = user if rng.random() < 0.6 else rng.choice(spec["features"])
        body = (body.replace("zzTENANTzz", tenant).replace("zzDOMAINzz", domain)
                .replace("zzUSERzz", user).replace("zzNUMBERzz", number)).encode()
        out.append(b"POST " + spec["path"].encode() + b" HTTP/1.0\r\nHost: " + host.encode()
                   + b"\r\nUser-Agent: freeswitch-xml/1.0\r\n"
                   b"Content-Type: application/x-www-form-urlencoded\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return out


async def fetch(port, raw):
    """(status, response bytes) of one request on a new connection; status 0: none."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        data = await reader.read()  # HTTP/1.0: the server closes after the response
    finally:
        writer.close()
    status = int(data[9:12]) if data[:5] == b"HTTP/" else 0
    return status, len(data.partition(b"\r\n\r\n")[2])


async def timed(port, raw, results, due=None):
    loop = asyncio.get_running_loop()
    sent = loop.time()
    try:
        status, size = await asyncio.wait_for(fetch(port, raw), TIMEOUT_S)
    except (TimeoutError, OSError):
        status, size = 0, 0
    results.append((loop.time() - sent, status, size, sent - due if due else 0.0))


async def open_loop(port, work, rate):
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    results = []

    async def one(i, raw):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        await timed(port, raw, results, due)

    await asyncio.gather(*(one(i, raw) for i, raw in enumerate(work)))
    return results, loop.time() - start


async def closed_loop(port, work, clients, seconds):
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    start = loop.time()
    results = []
    queue = iter(work)

    async def client():
        for raw in queue:
            if loop.time() >= end:
                return
            await timed(port, raw, results)

    await asyncio.gather(*(client() for _ in range(clients)))
    return results, loop.time() - start


def summary(results, elapsed):
    times = sorted(r[0] * 1000 for r in results)
    ok = [r for r in results if r[1] == 200]

    def pct(p):
        return round(times[min(len(times) - 1, int(p / 100 * len(times)))], 2) if times else None

    late = sorted(r[3] * 1000 for r in results)
    return {
        "requests": len(results), "ok": len(ok), "errors": len(results) - len(ok),
        "elapsed_s": round(elapsed, 2), "rate": round(len(results) / elapsed, 1),
        "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
        "max_ms": round(times[-1], 2) if times else None,
        "mean_bytes": round(sum(r[2] for r in ok) / len(ok)) if ok else 0,
        "late_p99_ms": round(late[min(len(late) - 1, int(0.99 * len(late)))], 2) if late else 0,
    }


def main(mode, url, seconds, n, kind, spec_json):
    seconds, n = float(seconds), float(n)
    spec = json.loads(spec_json)
    parts = urlsplit(url)
    spec["path"] = parts.path
    count = int(n * seconds) if mode == "open" else MAX_REQUESTS
    if seconds > MAX_SECONDS or count > MAX_REQUESTS:
        sys.exit(f"bounded: at most {MAX_REQUESTS} requests and {MAX_SECONDS:g} s")
    work = requests(spec, kind, count)
    if mode == "open":
        results, elapsed = asyncio.run(open_loop(parts.port, work, n))
    else:
        results, elapsed = asyncio.run(closed_loop(parts.port, work, int(n), seconds))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_us = round((usage.ru_utime + usage.ru_stime) / max(len(results), 1) * 1e6)
    print(json.dumps({"mode": mode, "kind": kind, "n": n, "at": time.time(),
                      "client_cpu_us": cpu_us, **summary(results, elapsed)}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
