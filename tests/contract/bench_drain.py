"""Drain benchmark (issue 12 target: drain a FreeSWITCH carrying 20 calls: no call dropped, no
new call lands on it after the command returns).

Run: python -m tests.contract.bench_drain [CALLS] [HOLD_S] (defaults 20 calls held 30 s) on a
lab whose feature servers run FreeSWITCH. The drill's test users of the first shard's tenants
place CALLS calls through the VIP (all to the shard's primary), each held HOLD_S seconds; once
the primary carries them, `clusterctl drain` logic (clusterctl.freeswitch.drain) takes it out
while a second SIPp places 10 more calls. Prints what the drain reported, how many held calls
were torn down normally (BYE answered 200) and which server took each later call, then
undrains the primary. Bounded: SIPp runs stop by themselves (-m, -timeout) and are stopped.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

from clusterctl import faults
from clusterctl.drills import build, live
from clusterctl.freeswitch import drain as fs_drain
from clusterctl.freeswitch.esl import FreeSwitchClient
from clusterctl.inventory import load_cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
HELD_SCENARIO = "/tmp/clusterctl-bench-drain-hold.xml"  # on the probe host
LATER_CALLS = 10


def main(calls: int, hold_s: int) -> int:
    """0 when the drain dropped no call and no later call reached the drained server."""
    source = os.environ.get("CLUSTERCTL_CONTRACT_INVENTORY", str(REPO_ROOT / "inventory" / "lab"))
    cluster = load_cluster(source)
    if cluster.feature_server_unit != "freeswitch":
        print(f"{source}: the feature servers are not FreeSWITCH; nothing to drain")
        return 2
    password = cluster.secret("fs_esl_password")
    assert password, "fs_esl_password cannot be read from the inventory"
    shard_name, shard = next(iter(cluster.settings.shards.items()))
    target = shard.primary
    domains = [t.domain for t in cluster.settings.tenants if t.shard == shard_name]
    tenant_of = {t.domain: t.id for t in cluster.settings.tenants}
    backend = faults.drill_backend(cluster)
    probe = cluster.members("probes")[0]
    local = str(cluster.hosts[probe].address)
    vip = str(cluster.settings.edge_vrrp.vip)
    # The drill's held-call scenario with a longer hold.
    backend.run(probe, ["sh", "-c", f"sed 's/<pause milliseconds=\"[0-9]*\"/<pause milliseconds="
                                    f"\"{hold_s * 1000}\"/' {build.PROBE_HOLD_SCENARIO} "
                                    f">{HELD_SCENARIO}"])
    users = live.TestUsers(backend, cluster.members("databases"), domains,
                           csv_path=build.PROBE_USERS)
    rate = 5.0
    held = live.SippTraffic(
        backend, probe,
        live.SippCommand(vip, HELD_SCENARIO, build.PROBE_USERS, local, rate=rate,
                         max_seconds=calls / rate, auth=users.auth),
        tenant_of, build.PROBE_OPTIONS, users=users, register_scenario=build.PROBE_REGISTER,
    )
    later = live.SippTraffic(
        backend, probe,
        live.SippCommand(vip, build.PROBE_SCENARIO, build.PROBE_USERS, local, rate=rate,
                         max_seconds=LATER_CALLS / rate, port=live.TRAFFIC_PORT + 10,
                         trace="/tmp/clusterctl-bench-drain-later.log", auth=users.auth),
        tenant_of, build.PROBE_OPTIONS,
    )
    server = FreeSwitchClient(str(cluster.hosts[target].address), password)
    busy = server.calls_count()
    if busy:
        print(f"{target} already carries {busy} calls (a call without media ends after "
              "freeswitch_rtp_timeout_s): run on an idle server")
        return 2
    drainer = fs_drain.for_host(cluster, target, password)
    held.start()
    try:
        deadline = time.monotonic() + calls / rate + 15
        while server.calls_count() < calls and time.monotonic() < deadline:
            time.sleep(0.5)
        started = time.monotonic()
        report = drainer.drain(target, deadline_s=hold_s + 30)
        returned = time.monotonic() - started
        later.start()
        time.sleep(LATER_CALLS / rate + 3)
        later_calls = later.stop()
    finally:
        held_calls = held.stop()
        drainer.undrain(target)
    answered = [c for c in held_calls if c.ok]
    on_target = [c for c in answered if c.answered_by == target]
    torn_down = [c for c in on_target if c.bye_status == 200]
    later_by = Counter(c.answered_by or f"failed {c.status}" for c in later_calls)
    print(f"drain of {target} carrying {report.calls_at_start} calls "
          f"({len(on_target)} of the benchmark's {len(held_calls)} were answered there)")
    print(f"  drain returned after {returned:.1f} s: drained={report.drained}, "
          f"calls left {report.calls_left}, waited {report.waited_s:.1f} s")
    print(f"  held calls on {target} torn down normally (BYE 200): "
          f"{len(torn_down)}/{len(on_target)}")
    print(f"  calls placed after the drain returned: {dict(later_by)}")
    dropped = len(on_target) - len(torn_down)
    landed = later_by.get(target, 0)
    return 0 if report.drained and dropped == 0 and landed == 0 and on_target else 1


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    sys.exit(main(*args) if args else main(20, 30))
