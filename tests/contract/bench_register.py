"""REGISTER benchmark through the lab edge's VIP (issue 5 target: >= 2,000/s sustained).

Run: python -m tests.contract.bench_register [RATE] [SECONDS] [USERS] (defaults 500/s for 20 s,
USERS = RATE up to 5,000). Creates USERS subscribers (78xxxxx names in the first tenant) and
REGISTERs them in turn from the probe with SIPp at RATE per second for SECONDS (bounded: at
most RATE*SECONDS REGISTERs, SIPp stopped by `timeout` after SECONDS+30 s). With the default
pool each user refreshes its registration every second or so, a best case for the edge's HA1
cache and write-back; USERS = RATE*SECONDS makes every REGISTER a new user (a registration
storm after an outage: every credential read from the database, every contact new). Prints the
achieved rate, the failures and each edge and database daemon's CPU time per REGISTER, then
removes the users (their contacts expire).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import sys
from pathlib import Path

from clusterctl.inventory import load_cluster

from .harness import REMOTE_DIR, Edge, Remote

REPO_ROOT = Path(__file__).resolve().parents[2]


MAX_USERS = 100_000


def main(rate: int, seconds: int, pool: int = 0) -> int:
    """Run the benchmark; 0 when every REGISTER succeeded, 1 otherwise."""
    source = os.environ.get("CLUSTERCTL_CONTRACT_INVENTORY", str(REPO_ROOT / "inventory" / "lab"))
    edge = Edge(load_cluster(source))
    tenant = edge.cluster.settings.tenants[0]
    count = min(pool or min(rate, 5000), MAX_USERS)
    users = [(f"78{n:05d}", tenant.domain, secrets.token_hex(8)) for n in range(count)]
    values = ",".join(f"('{u}','{d}','{p}')" for u, d, p in users)
    edge.sql(
        "INSERT INTO subscriber (username, domain, password) VALUES "
        f"{values} ON DUPLICATE KEY UPDATE password = VALUES(password);"
    )
    where = f"domain='{tenant.domain}' AND username LIKE '78_____'"
    edge.wait_replicated(f"SELECT COUNT(*) FROM subscriber WHERE {where};", len(users), 30)
    probe = edge.probe
    edge.copy_scenarios(probe)
    text = "SEQUENTIAL\n" + "".join(
        f"{u};{d};[authentication username={u} password={p}]\n" for u, d, p in users
    )
    probe.run(f"umask 077; cat > {REMOTE_DIR}/bench_users.csv", 10, stdin=text.encode())
    total = rate * seconds
    stat = f"{REMOTE_DIR}/bench_stat.csv"
    command = (
        f"rm -f {stat}; timeout {seconds + 30} sipp {edge.vip}:5060"
        f" -sf {REMOTE_DIR}/register_bench.xml -inf {REMOTE_DIR}/bench_users.csv"
        f" -i {probe.address} -p 5199 -r {rate} -m {total} -l {rate * 4} -nostdin"
        f" -timeout {seconds + 25}s -trace_stat -stf {stat} -fd 60 >/dev/null 2>&1;"
        f" echo RC=$?; cat {stat}"
    )
    daemons = {e.host.name: (e, edge.engine) for e in edge.edges}
    daemons |= {n: (edge.remote(n), "mariadbd") for n in edge.cluster.members("databases")}
    before = {name: _cpu_seconds(*where) for name, where in daemons.items()}
    try:
        out = probe.run(command, seconds + 45).stdout
        used = {name: _cpu_seconds(*where) - before[name] for name, where in daemons.items()}
    finally:
        # Their contacts expire on the edges within 300 s (register_bench.xml's Expires).
        edge.sql(f"DELETE FROM subscriber WHERE {where};")
    rc_line, _, body = out.partition("\n")
    rows = list(csv.DictReader(io.StringIO(body), delimiter=";"))
    if not rows:
        print(f"no statistics from SIPp ({rc_line})")
        return 1
    last = rows[-1]
    ok = int(last["SuccessfulCall(C)"])
    failed = int(last["FailedCall(C)"])
    elapsed = _seconds(last["ElapsedTime(C)"])
    print(
        f"REGISTER with digest auth through {edge.vip}: target {rate}/s for {seconds} s,"
        f" {len(users)} users;"
        f" {ok} succeeded, {failed} failed in {elapsed:.1f} s = {ok / elapsed:.0f}/s achieved"
        f" (SIPp {rc_line})"
    )
    # CPU time per REGISTER of each daemon: what one core of it would sustain on its own.
    for name, secs in used.items():
        per = secs / max(ok, 1) * 1e6
        print(
            f"  {name:8s} {daemons[name][1]:9s} {secs:6.1f} CPU-s = {per:5.0f} us per REGISTER"
            f" (one core: {1e6 / per if per else 0:,.0f}/s)"
        )
    return 0 if failed == 0 and ok == total else 1


def _cpu_seconds(host: Remote, process: str) -> float:
    """User + system CPU seconds of every ``process`` on ``host`` so far (from /proc)."""
    script = (
        f"for p in $(pgrep -x {process}); do cat /proc/$p/stat; done"
        " | awk '{s += $14 + $15} END {print s + 0}'; getconf CLK_TCK"
    )
    ticks, hz = host.run(script, 10).stdout.split()
    return int(ticks) / int(hz)


def _seconds(stamp: str) -> float:
    """SIPp's ElapsedTime ``HH:MM:SS:uuuuuu`` (or ``HH:MM:SS``) in seconds."""
    parts = stamp.split(":")
    value = int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
    return value + (int(parts[3]) / 1e6 if len(parts) > 3 else 0.0)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    sys.exit(main(*(args + [500, 20, 0][len(args) :])))
