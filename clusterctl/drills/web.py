"""``drill web``: one web node fails under call traffic; the HAProxy on every feature server
must stop sending lookups to it, and no lookup and no call may fail meanwhile.

Measured on every FreeSWITCH feature server: a lookup through its local HAProxy every
LOOKUP_INTERVAL_S (the directory request FreeSWITCH sends for a user of its shard; "ok" is a
200 with a document, found or not), with HAProxy's state of each web node read from its admin
socket at the same moment; the first feature server also asks the target's health URL
directly, which shows when the node itself answered again. From those: how long after the
fault every HAProxy had the node out (or, when systemd restarted it before any check could
take it out, how long it was gone), how long after the restore every one had it back, and
the failed lookups. The calls go through the VIP to the feature servers' echo test; each asks
the service for its dialplan.
"""

from __future__ import annotations

import json
import shlex
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from clusterctl.drills.analysis import percentile
from clusterctl.drills.live import FaultBackend, Probes
from clusterctl.drills.observe import LookupSample, Observations
from clusterctl.drills.run import Check, Drill, mark_fault
from clusterctl.drills.thresholds import TIMER_MARGIN_S, Limit
from clusterctl.errors import ClusterctlError
from clusterctl.model import Cluster
from clusterctl.web import (
    CONFSVC_PATH,
    CONFSVC_PORT,
    CONFSVC_PROXY_CHECK_FALL,
    CONFSVC_PROXY_CHECK_FASTINTER_MS,
    CONFSVC_PROXY_CHECK_INTER_MS,
    CONFSVC_PROXY_CHECK_RISE,
    CONFSVC_PROXY_CHECK_TIMEOUT_MS,
    CONFSVC_PROXY_CONNECT_TIMEOUT_MS,
    CONFSVC_PROXY_PORT,
)

LOOKUP_INTERVAL_S = 0.05
# The loop on each feature server ends by itself after this long, whatever the drill does.
LOOKUP_LOOP_MAX_S = 180
LOOKUP_LOG = "/tmp/clusterctl-drill-lookups.jsonl"
# The HAProxy backend of the web nodes (roles/confsvc_proxy templates/etc/haproxy) and the
# admin socket it opens.
PROXY_BACKEND = "web"
PROXY_SOCKET = "/run/haproxy/admin.sock"
# The user each lookup asks for: none has this name, so the service reads the tenant and
# answers "not found" (a 200 with a document: what FreeSWITCH gets for any unknown number).
LOOKUP_USER = "clusterctl-drill"

# How long the direct health request to the target may take before it counts as no answer.
TARGET_TIMEOUT_S = 0.25

# Runs on a feature server: argv = url, body, seconds, interval, socket, backend, and the
# target's health URL or "" (then the target_ok field is null). One JSON line per lookup.
# Standard library only (the host's python3).
_LOOP = r"""
import json, socket, sys, time, urllib.error, urllib.request
url, body, seconds, gap, sock_path, backend, target, target_timeout = sys.argv[1:9]
body, seconds, gap = body.encode(), float(seconds), float(gap)
def states():
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(0.5)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return {}
    lines = data.decode(errors="replace").splitlines()
    if not lines:
        return {}
    col = lines[0].lstrip("# ").split(",").index("status")
    out = {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > col and f[0] == backend and f[1] not in ("FRONTEND", "BACKEND"):
            out[f[1]] = f[col]
    return out
end = time.time() + seconds
while True:
    t = time.time()
    status, ok = None, False
    try:
        with urllib.request.urlopen(url, data=body, timeout=3) as reply:
            status = reply.status
            ok = status == 200 and b"<document" in reply.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        pass
    ms = round((time.time() - t) * 1000, 1)
    target_ok = None
    if target:
        try:
            with urllib.request.urlopen(target, timeout=float(target_timeout)) as reply:
                target_ok = reply.status == 200
        except (OSError, ValueError):
            target_ok = False
    print(json.dumps({"t": t, "ok": ok, "status": status, "ms": ms, "servers": states(),
                      "target_ok": target_ok}), flush=True)
    if time.time() >= end:
        break
    time.sleep(max(0.0, gap - (time.time() - t)))
"""


@dataclass(frozen=True)
class WebLimits:
    """What `drill web` holds the web tier to, from HAProxy's check settings."""

    out_s: Limit
    back_s: Limit
    failed_lookups: Limit
    failed_calls: Limit


def web_limits(fault: str, max_failed_calls: Limit) -> WebLimits:
    """HAProxy's next check starts up to INTER after the fault; once one failed the next come
    FASTINTER apart, and a node is out after FALL failed ones, back after RISE good ones (the
    first of them up to INTER after the restore). A stopped or killed node refuses at once; a
    frozen or cut-off one fails each check only at its timeout (connect + check = T), and a
    check hanging at the restore delays the first good one by up to T. HAProxy retries a failed
    lookup on the other node, so none may fail."""
    inter = CONFSVC_PROXY_CHECK_INTER_MS / 1000
    fast = CONFSVC_PROXY_CHECK_FASTINTER_MS / 1000
    fall, rise = CONFSVC_PROXY_CHECK_FALL, CONFSVC_PROXY_CHECK_RISE
    hang = (CONFSVC_PROXY_CONNECT_TIMEOUT_MS + CONFSVC_PROXY_CHECK_TIMEOUT_MS) / 1000
    silent = fault in ("freeze", "netcut")
    out = inter + (fall - 1) * fast + (fall * hang if silent else 0)
    back = inter + (rise - 1) * fast + (hang if silent else 0)
    each = f"inter={inter:g} s, fastinter={fast:g} s"
    return WebLimits(
        out_s=Limit(round(out + TIMER_MARGIN_S, 3),
                    f"inter + (fall-1)*fastinter{' + fall*T' if silent else ''} = {out:g} s "
                    f"(fall={fall}, {each}{f', T={hang:g} s' if silent else ''})", "computed"),
        back_s=Limit(round(back + TIMER_MARGIN_S, 3),
                     f"inter + (rise-1)*fastinter{' + T' if silent else ''} = {back:g} s "
                     f"(rise={rise})", "computed"),
        failed_lookups=Limit(0, "0 (HAProxy retries a failed lookup on the other node)",
                             "computed"),
        failed_calls=max_failed_calls,
    )


class LookupWatch:
    """The lookup loop on each feature server, started and read back over the fault backend.

    ``start`` raises ClusterctlError when a loop does not start; ``stop`` ends the loops and
    returns their samples (a loop that cannot be read is an error naming the host).
    """

    def __init__(self, backend: FaultBackend, bodies: dict[str, bytes],
                 target_health: str) -> None:
        self.backend = backend
        self.bodies = bodies  # feature server -> the lookup it sends
        self.target_health = target_health  # asked directly by the first feature server
        self.pids: dict[str, int] = {}

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(self.bodies)

    def _command(self, host: str, seconds: float) -> list[str]:
        url = f"http://127.0.0.1:{CONFSVC_PROXY_PORT}{CONFSVC_PATH}"
        target = self.target_health if host == self.hosts[0] else ""
        args = [url, self.bodies[host].decode(), str(seconds), str(LOOKUP_INTERVAL_S),
                PROXY_SOCKET, PROXY_BACKEND, target, str(TARGET_TIMEOUT_S)]
        return ["python3", "-c", _LOOP, *args]

    def states(self, host: str) -> dict[str, str]:
        """HAProxy's state of each web node on ``host`` now (one lookup loop of 0 s)."""
        out = self.backend.run(host, self._command(host, 0.001))
        lines = [line for line in out.splitlines() if line.strip()]
        return json.loads(lines[-1])["servers"] if lines else {}

    def start(self) -> None:
        for host in self.hosts:
            loop = shlex.join(self._command(host, LOOKUP_LOOP_MAX_S))
            out = self.backend.run(host, [
                "sh", "-c", f"nohup {loop} >{LOOKUP_LOG} 2>&1 </dev/null & echo $!"])
            try:
                self.pids[host] = int(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                raise ClusterctlError(f"the lookup loop on {host} did not start: {out!r}") from None

    def stop(self) -> list[LookupSample]:
        samples: list[LookupSample] = []
        for host, pid in self.pids.items():
            self.backend.run(host, ["sh", "-c", f"kill {pid} 2>/dev/null; true"])
            text = self.backend.run(host, ["cat", LOOKUP_LOG])
            for line in text.splitlines():
                if line.startswith("{"):
                    samples.append(LookupSample(host=host, **json.loads(line)))
        self.pids = {}
        return sorted(samples, key=lambda s: s.t)


def _first(samples: list[LookupSample], after: float, test: Callable[[str], bool],
           node: str) -> float | None:
    for s in samples:
        if s.t >= after and test(s.servers.get(node, "")):
            return s.t
    return None


def _worst(per_host: dict[str, float | None]) -> float | None:
    values = list(per_host.values())
    if not values or any(v is None for v in values):
        return None
    return round(max(v for v in values if v is not None), 3)


def analyze(obs: Observations, target: str, limits: WebLimits
            ) -> tuple[list[Check], dict[str, Any]]:
    """Checks and facts of one run (pure: replayable on recorded streams)."""
    fault = obs.marks["fault"]
    restore = obs.marks.get("restore")
    by_host: dict[str, list[LookupSample]] = defaultdict(list)
    for sample in obs.lookups:
        by_host[sample.host].append(sample)
    out: dict[str, float | None] = {}
    back: dict[str, float | None] = {}
    # HAProxy can take the node back only once it answers: "back" counts from its first health
    # answer after the restore (Apache's own start-up took up to 0.8 s under the suite's load).
    up_at = next((s.t for s in obs.lookups if restore is not None and s.t >= restore
                  and s.target_ok), None)
    since = up_at if up_at is not None else restore  # up_at is never before the restore
    for host, samples in sorted(by_host.items()):
        gone = _first(samples, fault, lambda st: st.startswith("DOWN"), target)
        out[host] = None if gone is None else gone - fault
        if restore is not None and since is not None:
            again = _first(samples, max(restore, gone or restore), lambda st: st == "UP", target)
            back[host] = None if again is None else max(0.0, again - since)
    failed = [s for s in obs.lookups if not s.ok]
    calls = obs.settled_calls()
    during = [s.ms for s in obs.lookups if s.t >= fault and (restore is None or s.t < restore)]
    # The node answering its health URL again before the drill restored anything: systemd
    # restarted it (kill). When no HAProxy took it out meanwhile, that outage is the figure.
    answered = next((s.t for s in obs.lookups if s.t >= fault and s.target_ok
                     and (restore is None or s.t < restore)), None)
    # Some HAProxies may have taken it out before it was back, others not: each of them had it
    # out, or saw it back, within the limit.
    by_itself = answered is not None and any(v is None for v in out.values())
    if answered is not None and by_itself:
        took = [v for v in out.values() if v is not None]
        gone_check = Check(
            "back by itself before HAProxy took it out", round(max([answered - fault, *took]), 3),
            limits.out_s, "s",
            note="its health URL answered again (systemd restarted it); marked DOWN by "
            + (", ".join(f"{h} {_fmt(v)}" for h, v in out.items() if v is not None) or "none"))
    else:
        gone_check = Check(
            "HAProxy stops sending to it", _worst(out), limits.out_s, "s",
            note=", ".join(f"{h} {_fmt(v)}" for h, v in out.items()) or "no lookups")
    checks = [
        gone_check,
        Check("failed lookups", float(len(failed)) if obs.lookups else None,
              limits.failed_lookups, "",
              note=f"{len(obs.lookups)} lookups on {len(by_host)} feature servers; statuses "
              + (", ".join(sorted({str(s.status) for s in failed})) or "-")),
        Check("back in HAProxy after the restore", _worst(back) if back else None,
              limits.back_s, "s",
              note=", ".join(f"{h} {_fmt(v)}" for h, v in back.items())
              + ("; from its first health answer, "
                 f"{up_at - restore:.2f} s after the restore" if up_at and restore else "")),
    ]
    if obs.meta.get("traffic", True):
        checks.append(Check(
            "failed calls", float(sum(not c.ok for c in calls)), limits.failed_calls, "",
            note=f"{len(calls)} calls; codes "
            + (", ".join(sorted({str(c.status) for c in calls if not c.ok})) or "-")))
    facts: dict[str, Any] = {
        "target": target,
        "mechanism": ("HAProxy health checks" if not by_itself
                      else "none (back by itself)" if all(v is None for v in out.values())
                      else "back by itself before every HAProxy took it out"),
        "lookups": len(obs.lookups),
        "lookup_ms_max_during_fault": max(during) if during else None,
        "lookup_ms_p99_during_fault": percentile(during, 99),
        "calls_cut_by_traffic_stop": len(obs.calls) - len(calls),
        "poll_errors": len(obs.errors),
    }
    return checks, facts


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def haproxy_problems(watch: LookupWatch) -> list[str]:
    """Feature servers whose HAProxy cannot be read or does not see every web node UP."""
    problems = []
    for host in watch.hosts:
        try:
            states = watch.states(host)
        except (OSError, RuntimeError, ValueError) as exc:
            problems.append(f"HAProxy on {host} cannot be read: {exc}")
            continue
        down = {node: st for node, st in states.items() if st != "UP"}
        if not states or down:
            problems.append(f"HAProxy on {host}: web nodes not all UP ({states or 'none'})")
    return problems


def target_health_url(cluster: Cluster, target: str) -> str:
    """The target web node's health URL, as HAProxy checks it."""
    return f"http://{cluster.hosts[target].address}:{CONFSVC_PORT}{CONFSVC_PATH}/health"


def lookup_bodies(cluster: Cluster) -> dict[str, bytes]:
    """Per FreeSWITCH feature server, a directory lookup as FreeSWITCH sends it, for
    LOOKUP_USER at the first tenant of its shard."""
    bodies = {}
    for name in cluster.members("feature_servers"):
        shard = cluster.hosts[name].shard
        domain = next((t.domain for t in cluster.settings.tenants if t.shard == shard), "")
        bodies[name] = urlencode({
            "section": "directory", "tag_name": "domain", "key_name": "name",
            "key_value": domain, "action": "user_call", "user": LOOKUP_USER, "domain": domain,
        }).encode()
    return bodies


class WebDrill(Drill):
    """Fail one web node and watch every feature server's HAProxy take it out and back."""

    name = "web"

    def __init__(self, cluster: Cluster, target: str, fault: str, probes: Probes, *,
                 watch: LookupWatch, limits: WebLimits) -> None:
        self.cluster = cluster
        self.target = target
        self.fault = fault
        self.probes = probes
        self.watch = watch
        self.limits = limits

    def plan(self) -> list[tuple[str, str]]:
        every = f"{1 / LOOKUP_INTERVAL_S:g} times a second"
        return [
            (", ".join(self.watch.hosts),
             f"look up through the local HAProxy {every}, reading its state of each web node"),
            (self.probes.traffic_host or "(no probe host)",
             "calls through the VIP to the echo test (each asks the service for its dialplan)"),
            (self.target, f"{self.fault}: {self.probes.describe_fault(self.target, self.fault)}"),
            (self.target, f"restore: {self.probes.describe_restore(self.target, self.fault)}"),
        ]

    def steady_state(self) -> list[str]:
        return haproxy_problems(self.watch)

    def start_observing(self, obs: Observations) -> None:
        obs.meta.update(drill=self.name, target=self.target, fault=self.fault,
                        traffic=self.probes.traffic_host is not None)
        self.watch.start()
        self.probes.start(obs, dispatcher=False)

    def stop_observing(self, obs: Observations) -> None:
        try:
            self.probes.stop(obs)
        finally:
            obs.lookups.extend(self.watch.stop())

    def inject(self, obs: Observations) -> None:
        mark_fault(obs, self.probes.clock,
                   lambda: self.probes.faults.inject(self.target, self.fault))

    def await_effect(self, obs: Observations) -> None:
        # The samples are read back at the end: watch for the whole limit, then a little.
        time.sleep(self.limits.out_s.value + 2)

    def restore(self, obs: Observations) -> None:
        obs.mark("restore", self.probes.faults.restore(self.target, self.fault))

    def await_recovery(self, obs: Observations) -> None:
        time.sleep(self.limits.back_s.value + 2)

    def analyze(self, obs: Observations) -> tuple[list[Check], dict[str, Any]]:
        return analyze(obs, self.target, self.limits)
