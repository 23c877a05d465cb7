#!/usr/bin/env python3
"""Benchmark of the configuration service on loopback; prints its figures.

1. Provisions TENANTS x USERS users (default 100 x 100 = 10,000) into a local MariaDB test
   server (tests/mariadb_support.py: CLUSTERCTL_TEST_MARIADB, default 127.0.0.1:3307) through
   ``clusterctl provision`` (MariaDBStore), one tenant file each.
2. Serves the WSGI app with a multi-threaded stdlib server (wsgiref's WSGIServer, requests on
   a fixed pool of threads) in separate processes sharing one socket (mod_wsgi's
   ``processes=N threads=T``), as a SELECT-only database user through the pool, with one more
   route: a static XML file of the service's mean response size, read from disk per request
   (the reference).
3. Open loop: directory + dialplan lookups (half each, random users and features of random
   tenants, from the four "feature server" addresses 127.0.0.11-14) at RATE/s for SECONDS,
   then the static file at the same rate; p50/p90/p99/max latency per request (a new TCP
   connection each, as mod_xml_curl does), seen by the client and inside the server.
4. Closed loop: CONCURRENCY clients as fast as they go for MAX_SECONDS, service then static:
   requests per second.
5. CPU per request of the server processes, MariaDB (its pid in CLUSTERCTL_TEST_MARIADB_PID)
   and the load generator, per phase: on a machine other work shares, latency measures the
   waiting; CPU per request stays what the service costs.

Bounded: at most 100,000 requests per phase and 120 s per phase; loopback only. The load
generator shares the machine's cores with the server; the load average printed with the
figures says whether anything else did too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import random
import secrets
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "unit"))

SHARDS = 4
CLIENT_ADDRESSES = [f"127.0.0.{11 + i}" for i in range(SHARDS)]
PREFIX = "cc_bench"
MAX_REQUESTS = 100_000
MAX_PHASE_S = 120.0


# --- provisioning --------------------------------------------------------------------------


def _password() -> str:
    """A random password that passes the rule (a test value, never printed)."""
    alphabet = string.ascii_letters + string.digits
    return "Bx-" + "".join(secrets.choice(alphabet) for _ in range(14)) + "7a"


def tenant_file(index: int, users: int) -> str:
    """A tenant file: USERS users with boxes, a ring group, conference, IVR and a DID."""
    from clusterctl.provision.digest import pin_problem  # noqa: PLC0415

    lines = [f"tenant: t{index:03d}", "users:"]
    for u in range(users):
        ext = str(1000 + u)
        lines += [f'  - extension: "{ext}"', f"    name: User {ext} of t{index:03d}",
                  f'    password: "{_password()}"']
    lines.append("voicemail:")
    for u in range(users):
        ext = str(1000 + u)
        pin = str(random.randint(100000, 999999))
        while pin_problem(pin, ext):
            pin = str(random.randint(100000, 999999))
        lines.append(f'  - {{mailbox: "{ext}", user: "{ext}", pin: "{pin}"}}')
    members = ", ".join(f'"{1000 + u}"' for u in range(min(users, 5)))
    lines += [
        "ring_groups:",
        f'  - {{number: "600", name: Sales, members: [{members}]}}',
        "conferences:",
        '  - {number: "700", name: All hands}',
        "ivrs:",
        '  - number: "500"',
        "    name: Main",
        "    greeting: ivr/ivr-welcome.wav",
        '    entries: {"1": ring_group 600, "2": voicemail 1000, "9": hangup}',
        "dids:",
        f'  - {{number: "+49301{index:05d}", to: ivr 500}}',
    ]
    return "\n".join(lines) + "\n"


def bench_cluster(tenants: int) -> Any:
    from clusterctl.model import build_cluster  # noqa: PLC0415

    shards = {f"s{i + 1}": {"primary": f"fs{i + 1}a", "secondary": f"fs{i + 1}b"}
              for i in range(SHARDS)}
    settings = {
        "cluster_name": "bench",
        "vrrp_instances": [{"name": "edge", "vip": "127.0.0.10", "prefix": 24, "router_id": 9}],
        "shards": shards,
        "tenants": [{"id": f"t{i:03d}", "name": f"Tenant {i}", "domain": f"t{i:03d}.bench.test",
                     "shard": f"s{i % SHARDS + 1}", "dids": [f"+49301{i:05d}"],
                     "permissions": ["internal", "national"]} for i in range(tenants)],
    }
    hosts = {f"fs{i + 1}{s}": {"ansible_host": f"127.0.1.{10 * i + n}", "shard": f"s{i + 1}"}
             for i in range(SHARDS) for n, s in enumerate("ab")}
    hostvars = {name: {**settings, **hv} for name, hv in hosts.items()}
    return build_cluster({"feature_servers": list(hosts)}, hostvars)


def provision(conn: Any, cfg: str, edge: str, tenants: int, users: int, work: Path) -> float:
    from clusterctl.provision import command  # noqa: PLC0415
    from clusterctl.provision.flush import NoFlush  # noqa: PLC0415
    from clusterctl.provision.store import MariaDBStore  # noqa: PLC0415

    cluster = bench_cluster(tenants)
    store = MariaDBStore(conn, "opensips", config_db=cfg, edge_db=edge)
    start = time.perf_counter()
    for i in range(tenants):
        path = work / f"t{i:03d}.yml"
        path.write_text(tenant_file(i, users), encoding="utf-8")
        command.apply_file(path, cluster, store, NoFlush(), prune=False)
    return time.perf_counter() - start


# --- the server process --------------------------------------------------------------------


def serve(config_path: str, static_path: str, port_file: str, processes: int,
          threads: int) -> None:
    """Run the app (POST) and the static file (GET /static.xml) until killed, in
    ``processes`` processes sharing one listening socket (mod_wsgi's ``processes=N``: one
    Python process uses one core at a time)."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer  # noqa: PLC0415

    from clusterctl.confsvc.app import create_app  # noqa: PLC0415
    from clusterctl.confsvc.config import load_config  # noqa: PLC0415

    app = create_app(load_config(Path(config_path)))

    # Time inside the server per request (after HTTP parsing, before the write): the part
    # the client's own scheduling cannot distort on a busy machine.
    timings: list[float] = []

    def router(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/bench-stats":
            body = json.dumps({"pid": os.getpid(), "ms": timings}).encode()
            if environ.get("QUERY_STRING") != "peek":
                timings.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        began = time.perf_counter()
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"] == "/static.xml":
            with open(static_path, "rb") as f:  # per request, as a file server would
                out = [f.read()]
            start_response("200 OK", [("Content-Type", "text/xml"),
                                      ("Content-Length", str(len(out[0])))])
        else:
            out = list(app(environ, start_response))
        timings.append((time.perf_counter() - began) * 1000)
        return out

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    class Server(WSGIServer):
        """Requests on a fixed pool of threads, as mod_wsgi's ``threads=N`` (one per pooled
        database connection, so none waits for a connection); the rest wait in the backlog."""

        request_queue_size = 1024
        workers = ThreadPoolExecutor(max_workers=threads)

        def process_request(self, request: Any, client_address: Any) -> None:
            self.workers.submit(self._serve, request, client_address)

        def _serve(self, request: Any, client_address: Any) -> None:
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    httpd = Server(("127.0.0.1", 0), Quiet)
    httpd.set_app(router)
    for _ in range(processes - 1):
        if os.fork() == 0:
            break  # a child: serve on the inherited socket (each opens its own pool lazily)
    else:
        Path(port_file).write_text(str(httpd.server_address[1]))
    httpd.serve_forever()


# --- load ------------------------------------------------------------------------------------


def request_bodies(tenants: int, users: int, count: int) -> list[tuple[str, bytes]]:
    """(source address, body) pairs: half directory, half dialplan, random targets."""
    from confsvc_support import capture  # noqa: PLC0415

    out = []
    rng = random.Random(7)
    features = ["600", "700", "500", "*97", "ivr-500-1", "030123456"]
    for n in range(count):
        t = rng.randrange(tenants)
        source = CLIENT_ADDRESSES[t % SHARDS]
        domain = f"t{t:03d}.bench.test"
        user = str(1000 + rng.randrange(users))
        if n % 2 == 0:
            body = capture(7, domain=domain, key_value=domain, user=user, dialed_extension=user)
        else:
            number = user if rng.random() < 0.6 else rng.choice(features)
            body = capture(5, **{"Hunt-Destination-Number": number,
                                 "Caller-Destination-Number": number,
                                 "variable_sip_h_X-Tenant-Id": f"t{t:03d}"})
        out.append((source, body))
    return out


def one(port: int, source: str, body: bytes | None) -> tuple[float, int, int]:
    """One request on a new connection: (seconds, status, response bytes)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    try:
        if body is None:
            conn.request("GET", "/static.xml")
        else:
            conn.request("POST", "/freeswitch", body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "freeswitch-xml/1.0"})
        response = conn.getresponse()
        data = response.read()
        return time.perf_counter() - start, response.status, len(data)
    finally:
        conn.close()


async def _fetch(port: int, source: str, body: bytes | None) -> tuple[int, int]:
    """One HTTP/1.0 request on a new connection (as mod_xml_curl): (status, bytes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        if body is None:
            head = b"GET /static.xml HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        else:
            head = (b"POST /freeswitch HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                    b"User-Agent: freeswitch-xml/1.0\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        writer.write(head)
        data = await reader.read()  # HTTP/1.0: the server closes after the response
    finally:
        writer.close()
    status = int(data[9:12]) if data[:5] == b"HTTP/" else 0
    return status, len(data)


def open_loop(port: int, work: list[tuple[str, bytes | None]], rate: float) -> dict[str, Any]:
    """Send ``work`` at ``rate``/s on schedule from one event loop (cheap on the client side,
    so the server gets the cores); latency of each request from its send."""
    results: list[tuple[float, int, float]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2

        async def send(i: int, source: str, body: bytes | None) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            sent = loop.time()
            try:
                status, _ = await asyncio.wait_for(_fetch(port, source, body), 10)
            except (OSError, TimeoutError):
                status = 0
            results.append((loop.time() - sent, status, sent - due))

        await asyncio.gather(*(send(i, s, b) for i, (s, b) in enumerate(work)))

    began = time.perf_counter()
    asyncio.run(run())
    return summary(results, time.perf_counter() - began - 0.2)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes used so far (from /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def server_pids(port: int, processes: int) -> list[int]:
    """The server processes' ids (they answer /bench-stats)."""
    seen: set[int] = set()
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=(CLIENT_ADDRESSES[0], 0))
        conn.request("GET", "/bench-stats?peek")
        seen.add(json.loads(conn.getresponse().read())["pid"])
        conn.close()
        if len(seen) == processes:
            break
    return sorted(seen)


def server_times(port: int, processes: int) -> list[float]:
    """Collect (and reset) the in-server times of every server process."""
    seen: dict[int, list[float]] = {}
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=(CLIENT_ADDRESSES[0], 0))
        conn.request("GET", "/bench-stats")
        got = json.loads(conn.getresponse().read())
        conn.close()
        seen.setdefault(got["pid"], []).extend(got["ms"])
        if len(seen) == processes:
            break
    return sorted(ms for times in seen.values() for ms in times)


def closed_loop(port: int, work: list[tuple[str, bytes | None]], seconds: float,
                clients: int) -> dict[str, Any]:
    """``clients`` loops sending back to back for ``seconds``: throughput."""
    stop = time.perf_counter() + seconds
    results: list[tuple[float, int, float]] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        i = offset
        while time.perf_counter() < stop:
            source, body = work[i % len(work)]
            try:
                took, status, _ = one(port, source, body)
            except OSError:
                took, status = 10.0, 0
            with lock:
                results.append((took, status, 0.0))
            i += clients

    start = time.perf_counter()
    pool = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=seconds + 15)
    return summary(results, time.perf_counter() - start)


def summary(results: list[tuple[float, int, float]], elapsed: float) -> dict[str, Any]:
    times = sorted(r[0] * 1000 for r in results)
    ok = sum(1 for r in results if r[1] == 200)

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p / 100 * len(times)))] if times else 0.0

    return {
        "requests": len(results), "ok": ok, "errors": len(results) - ok,
        "elapsed_s": round(elapsed, 2), "rate": round(len(results) / elapsed, 1),
        "p50_ms": round(pct(50), 2), "p90_ms": round(pct(90), 2), "p99_ms": round(pct(99), 2),
        "max_ms": round(times[-1], 2) if times else 0.0,
        "mean_ms": round(statistics.fmean(times), 2) if times else 0.0,
        "late_p99_ms": round(sorted(r[2] * 1000 for r in results)[
            min(len(results) - 1, int(0.99 * len(results)))], 2) if results else 0.0,
    }


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--server-processes", type=int, default=2, choices=range(1, 9),
                        help="Server processes sharing the socket (as mod_wsgi processes=N).")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    parser.add_argument("--serve", nargs=5, metavar=("CONFIG", "STATIC", "PORTFILE", "N", "T"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve[:3], int(args.serve[3]), int(args.serve[4]))
        return 0
    if args.rate * args.seconds > MAX_REQUESTS or max(args.seconds, args.max_seconds) > MAX_PHASE_S:
        parser.error(f"bounded: at most {MAX_REQUESTS} requests and {MAX_PHASE_S} s per phase")

    import mariadb_support  # noqa: PLC0415

    why = mariadb_support.reachable()
    if why:
        print(f"bench_confsvc: {why}", file=sys.stderr)
        return 2
    admin = mariadb_support.admin()
    server_version = admin.get_server_info()
    cfg, edge = mariadb_support.create_schema(admin, PREFIX, "opensips")
    db_password = secrets.token_urlsafe(18)
    with admin.cursor() as cur:
        cur.execute("DROP USER IF EXISTS 'cc_bench'@'127.0.0.1'")
        cur.execute("CREATE USER 'cc_bench'@'127.0.0.1' IDENTIFIED BY %s", (db_password,))
        cur.execute(f"GRANT SELECT ON `{cfg}`.* TO 'cc_bench'@'127.0.0.1'")
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-confsvc-") as tmp:
            work = Path(tmp)
            took = provision(admin, cfg, edge, args.tenants, args.users, work)
            users = args.tenants * args.users
            print(f"provisioned {users} users in {args.tenants} tenants through provision apply:"
                  f" {took:.1f} s ({users / took:.0f} users/s)")
            secret = work / "db.secret"
            secret.write_text(db_password + "\n")
            secret.chmod(0o600)
            endpoint, _, _ = mariadb_support.server()
            clients = {f"fs{i + 1}": {"address": a, "shard": f"s{i + 1}"}
                       for i, a in enumerate(CLIENT_ADDRESSES)}
            config = work / "confsvc.yml"
            config.write_text(json.dumps({
                "database": {"hosts": [f"{endpoint.host}:{endpoint.port}"], "name": cfg,
                             "user": "cc_bench", "password_file": str(secret),
                             "pool_size": args.pool_size},
                "clients": clients, "edge": {"vip": "127.0.0.10"},
            }))
            static = work / "static.xml"
            port_file = work / "port"
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(config), str(static), str(port_file),
                 str(args.server_processes), str(args.pool_size)],
                stdout=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 15
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or server.poll() is not None:
                    print("bench_confsvc: the server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            port = int(port_file.read_text())
            count = int(args.rate * args.seconds)
            lookups: list[tuple[str, bytes | None]] = list(
                request_bodies(args.tenants, args.users, count))
            sizes = [one(port, s, b)[2] for s, b in lookups[:400]]
            mean_size = int(statistics.fmean(sizes))
            # The reference: a real directory answer padded (XML comment) to the mean size.
            sample = lookups[0]
            conn = http.client.HTTPConnection("127.0.0.1", port, source_address=(sample[0], 0))
            conn.request("POST", "/freeswitch", body=sample[1],
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            base = conn.getresponse().read()
            conn.close()
            pad = max(0, mean_size - len(base) - 7)
            static.write_bytes(base + b"<!--" + b"x" * pad + b"-->")
            static_size = static.stat().st_size
            statics: list[tuple[str, bytes | None]] = [(CLIENT_ADDRESSES[0], None)] * count

            # Warm-up, not reported: every server thread's database connection open, the
            # tables in MariaDB's buffer pool.
            closed_loop(port, lookups, 3.0, args.concurrency)
            load_before = os.getloadavg()[0]
            phases = {}
            server_side = {}
            pids = server_pids(port, args.server_processes)
            db_pid = os.environ.get("CLUSTERCTL_TEST_MARIADB_PID", "")
            db_pids = [int(db_pid)] if db_pid.isdigit() else []
            cpu: dict[str, tuple[float, float, float]] = {}
            for name, run in (
                ("service_rate", lambda: open_loop(port, lookups, args.rate)),
                ("static_rate", lambda: open_loop(port, statics, args.rate)),
                ("service_max", lambda: closed_loop(port, lookups, args.max_seconds,
                                                    args.concurrency)),
                ("static_max", lambda: closed_loop(port, statics, args.max_seconds,
                                                   args.concurrency)),
            ):
                server_times(port, args.server_processes)
                before = (cpu_seconds(pids), cpu_seconds(db_pids), cpu_seconds([os.getpid()]))
                phases[name] = run()
                after = (cpu_seconds(pids), cpu_seconds(db_pids), cpu_seconds([os.getpid()]))
                cpu[name] = (after[0] - before[0], after[1] - before[1], after[2] - before[2])
                server_side[name] = server_times(port, args.server_processes)
            load_after = os.getloadavg()[0]
    finally:
        if server is not None:
            # The server's forked children share its process group (its own session).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=5)
        with admin.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'cc_bench'@'127.0.0.1'")
        mariadb_support.drop_schema(admin, PREFIX)
        admin.close()

    machine = f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    print(f"machine: {machine}; MariaDB {server_version} on loopback;"
          f" server: wsgiref, {args.server_processes} process(es) x {args.pool_size} threads, each"
          f" thread a pooled database connection; a new TCP connection per request")
    print(f"response size: service mean {mean_size} B, static file {static_size} B;"
          f" load average (1 min) {load_before:.1f} before, {load_after:.1f} after"
          " (anything above the core count means other work shared the machine)")
    print("client side: from send to the last byte, a new connection each; 'late' = how far"
          " behind schedule the client sent (a busy client); server side: inside the server,"
          " after HTTP parsing")
    print(f"{'':34} {'req':>6} {'err':>4} {'rate/s':>7} {'p50 ms':>7} {'p90 ms':>7}"
          f" {'p99 ms':>7} {'max ms':>7} {'late p99':>8} {'srv p50':>8} {'srv p99':>8}")
    labels = {
        "service_rate": f"service @{args.rate:.0f}/s, {args.seconds:.0f} s",
        "static_rate": f"static file @{args.rate:.0f}/s, {args.seconds:.0f} s",
        "service_max": f"service max, {args.concurrency} clients",
        "static_max": f"static file max, {args.concurrency} clients",
    }
    for key, label in labels.items():
        row = phases[key]
        inside = server_side[key]
        row["server_p50_ms"] = round(inside[len(inside) // 2], 2) if inside else 0.0
        row["server_p99_ms"] = round(inside[int(0.99 * len(inside))], 2) if inside else 0.0
        print(f"{label:34} {row['requests']:>6} {row['errors']:>4} {row['rate']:>7} "
              f"{row['p50_ms']:>7} {row['p90_ms']:>7} {row['p99_ms']:>7} {row['max_ms']:>7}"
              f" {row['late_p99_ms']:>8} {row['server_p50_ms']:>8} {row['server_p99_ms']:>8}")
    print("CPU per request (ms; contention changes waiting, hardly this): server processes /"
          " MariaDB (CLUSTERCTL_TEST_MARIADB_PID) / load generator")
    for key, label in labels.items():
        count = max(1, phases[key]["requests"])
        server_cpu, db_cpu, client_cpu = (1000 * c / count for c in cpu[key])
        phases[key]["cpu_ms"] = {"server": round(server_cpu, 3), "mariadb": round(db_cpu, 3),
                                 "client": round(client_cpu, 3)}
        db_text = f"{db_cpu:.3f}" if db_pids else "n/a"
        print(f"{label:34} {server_cpu:.3f} / {db_text} / {client_cpu:.3f}")
    static_max = phases["static_max"]["rate"]
    ratio = phases["service_max"]["rate"] / static_max if static_max else 0.0
    print(f"service max throughput / static file max throughput: {ratio:.2f}")
    if args.json:
        print(json.dumps({**phases, "mean_size": mean_size, "provision_s": round(took, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
