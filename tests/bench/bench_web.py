#!/usr/bin/env python3
"""Benchmark of the web tier in the lab: lookups through a feature server's HAProxy, Apache,
the configuration service and MariaDB, side by side with Apache serving a static XML file of
the same size through the same HAProxy; prints its figures.

1. Provisions TENANTS x USERS users (default 100 x 100 = 10,000) into the lab's database
   through ``clusterctl provision`` (tenants t000.. of tests/bench/bench_confsvc.py, shared
   between the lab's shards), unless they are there already.
2. Writes a static XML file of the service's mean response size into each web node's
   document root.
3. On the feature server (default fs1a), with tests/bench/web_load.py: an open loop of
   directory + dialplan lookups (half each, random users and features of the shard's
   tenants) at RATE/s for SECONDS, then the static file at the same rate; then closed loops
   of CONCURRENCY clients for MAX_SECONDS, service then static. Each request on a new
   connection, as mod_xml_curl does.

Lab only (refused on any other inventory): it adds 100 tenants to the lab's database and
leaves them there for the next run; `clusterctl lab down` removes them with the lab.
Bounded: at most 100,000 requests and 120 s per phase.

usage: python tests/bench/bench_web.py [-i inventory/lab] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit"))
sys.path.insert(0, str(REPO / "tests" / "bench"))

LOAD_SCRIPT = REPO / "tests" / "bench" / "web_load.py"
STATIC_PATH = "/bench-static.xml"
# Debian's apache2 serves /var/www/html for any path the site does not map (apache2.conf).
STATIC_FILE = "/var/www/html/bench-static.xml"
DOMAIN_SUFFIX = "bench.test"
FEATURES = ["600", "700", "500", "*97", "ivr-500-1", "030123456"]
MAX_REQUESTS = 100_000
MAX_PHASE_S = 120.0


# What each request costs, from this machine's /proc (the lab's containers share its kernel):
# the web nodes' Apache and mod_wsgi daemons, the databases, the feature servers' HAProxy (the
# load generator reports its own).
CPU_GROUPS = {"apache2": "Apache + service", "mariadbd": "MariaDB", "haproxy": "HAProxy"}


def host_cpu() -> collections.Counter[str]:
    """CPU seconds used so far per CPU_GROUPS process name, every process of the machine."""
    used: collections.Counter[str] = collections.Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if comm in CPU_GROUPS:
            used[comm] += (int(fields[11]) + int(fields[12])) / tick
    return used


def bench_cluster(lab: Any, tenants: int) -> Any:
    """The lab's cluster with the bench tenants added, alternating over the lab's shards."""
    import dataclasses  # noqa: PLC0415

    from clusterctl.model import Tenant  # noqa: PLC0415

    shards = sorted(lab.settings.shards)
    extra = [Tenant(id=f"t{i:03d}", name=f"Tenant {i}", domain=f"t{i:03d}.{DOMAIN_SUFFIX}",
                    shard=shards[i % len(shards)], dids=[f"+49301{i:05d}"],
                    permissions=["internal", "national"]) for i in range(tenants)]
    settings = lab.settings.model_copy(update={"tenants": [*lab.settings.tenants, *extra]})
    return dataclasses.replace(lab, settings=settings)


def provision(lab: Any, tenants: int, users: int) -> tuple[float, int]:
    """(seconds, tenants written): the bench tenants not in the database yet (each is written
    in one transaction, so one that is there is whole)."""
    from bench_confsvc import tenant_file  # noqa: PLC0415

    from clusterctl.provision import command  # noqa: PLC0415
    from clusterctl.provision.flush import NoFlush  # noqa: PLC0415

    cluster = bench_cluster(lab, tenants)
    written = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work, command.open_store(cluster) as store:
        for i in range(tenants):
            if store.stored_tenant(f"t{i:03d}") is not None:
                continue
            path = Path(work) / f"t{i:03d}.yml"
            path.write_text(tenant_file(i, users), encoding="utf-8")
            written += not command.apply_file(path, cluster, store, NoFlush(),
                                              prune=False).plan.empty
    return time.perf_counter() - start, written


def templates() -> dict[str, str]:
    """The lookups FreeSWITCH sends (captured from 1.10.12), with the markers web_load.py
    fills (zzTENANTzz, zzDOMAINzz, zzUSERzz, zzNUMBERzz)."""
    from confsvc_support import capture  # noqa: PLC0415

    directory = capture(7, domain="zzDOMAINzz", key_value="zzDOMAINzz", user="zzUSERzz",
                        dialed_extension="zzUSERzz")
    dialplan = capture(5, **{"Hunt-Destination-Number": "zzNUMBERzz",
                             "Caller-Destination-Number": "zzNUMBERzz",
                             "variable_sip_h_X-Tenant-Id": "zzTENANTzz"})
    return {"directory": directory.decode(), "dialplan": dialplan.decode()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", default=str(REPO / "inventory" / "lab"))
    parser.add_argument("--host", default="fs1a", help="The feature server to load from.")
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.rate * args.seconds > MAX_REQUESTS or max(args.seconds, args.max_seconds) > MAX_PHASE_S:
        parser.error(f"bounded: at most {MAX_REQUESTS} requests and {MAX_PHASE_S:g} s per phase")

    from clusterctl import faults  # noqa: PLC0415
    from clusterctl.errors import ClusterctlError  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415
    from clusterctl.web import CONFSVC_PATH, CONFSVC_PROXY_PORT, WEB_GROUP  # noqa: PLC0415

    try:
        lab = check_inventory(args.inventory, None)
    except ClusterctlError as exc:
        print(f"bench_web: {exc}", file=sys.stderr)
        return 2
    if not lab.is_lab or not lab.members(WEB_GROUP) or args.host not in lab.members(
            "feature_servers"):
        print("bench_web: needs a lab inventory with a web tier and the feature server "
              f"{args.host}", file=sys.stderr)
        return 2
    backend = faults.drill_backend(lab)
    shard = lab.hosts[args.host].shard
    bench = bench_cluster(lab, args.tenants)
    ours = [t.id for t in bench.settings.tenants if t.shard == shard and t.id.startswith("t")
            and t.domain.endswith(DOMAIN_SUFFIX)]

    took, written = provision(lab, args.tenants, args.users)
    print(f"provisioned {args.tenants} tenants x {args.users} users in {took:.1f} s "
          f"({written} written); {len(ours)} in {args.host}'s shard {shard}")

    spec = {**templates(), "tenants": ours, "domain": DOMAIN_SUFFIX, "users": args.users,
            "features": FEATURES, "static": STATIC_PATH}
    url = f"http://127.0.0.1:{CONFSVC_PROXY_PORT}{CONFSVC_PATH}"
    static_url = f"http://127.0.0.1:{CONFSVC_PROXY_PORT}{STATIC_PATH}"
    source = LOAD_SCRIPT.read_text(encoding="utf-8")

    def load(mode: str, seconds: float, n: float, kind: str) -> dict[str, Any]:
        target = static_url if kind == "static" else url
        before = host_cpu()
        out = backend.run(args.host, ["python3", "-c", source, mode, target, str(seconds),
                                      str(n), kind, json.dumps(spec)])
        used = host_cpu() - before
        figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        figures["load_avg"] = os.getloadavg()[0]
        figures["cpu_us"] = {name: round(used[comm] / max(figures["requests"], 1) * 1e6)
                             for comm, name in CPU_GROUPS.items()}
        figures["cpu_us"]["load generator"] = figures.pop("client_cpu_us")
        return figures

    warm = load("closed", 3, 8, "service")
    size = max(warm["mean_bytes"], 64)
    document = ('<document type="freeswitch/xml"><!-- '
                + "x" * (size - 50) + " --></document>\n")[:size]
    for web in lab.members(WEB_GROUP):
        backend.run(web, ["sh", "-c", f"printf %s {shlex.quote(document)} >{STATIC_FILE}"])

    rows = [
        ("service, open loop", load("open", args.seconds, args.rate, "service")),
        ("static file, open loop", load("open", args.seconds, args.rate, "static")),
        ("service, closed loop", load("closed", args.max_seconds, args.concurrency, "service")),
        ("static file, closed loop", load("closed", args.max_seconds, args.concurrency,
                                          "static")),
    ]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}; "
          f"from {args.host} through its HAProxy to {', '.join(lab.members(WEB_GROUP))}")
    print(f"response size: service mean {warm['mean_bytes']} B, static file {len(document)} B")
    print(f"{'phase':26} {'rate/s':>8} {'ok':>6} {'err':>5} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'load':>5}")
    for name, f in rows:
        print(f"{name:26} {f['rate']:8.1f} {f['ok']:6} {f['errors']:5} {f['p50_ms']:8} "
              f"{f['p90_ms']:8} {f['p99_ms']:8} {f['max_ms']:8} {f['load_avg']:5.1f}")
    print("CPU per request (us): " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in f["cpu_us"].items()) for name, f in rows))
    ratio = rows[2][1]["rate"] / rows[3][1]["rate"] if rows[3][1]["rate"] else 0.0
    p99 = rows[0][1]["p99_ms"]
    print(f"p99 at {args.rate:g}/s: {p99} ms (target <= 5 ms: "
          f"{'met' if p99 is not None and p99 <= 5 else 'NOT met'}); throughput service / "
          f"static = {ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(json.dumps({"rows": dict(rows), "ratio": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
