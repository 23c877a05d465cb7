"""``drill failover``: a feature server fails; the edge must exclude it and take it back.

Measured: detection time (fault -> the dispatcher stops selecting the target), which
mechanism excluded it (a failed call, or probing), re-inclusion time after restore, state
flaps, failed calls and post-dial delay in the fault window, and which server answered each
call before, during and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusterctl.drills import analysis
from clusterctl.drills.live import Probes, wait_until
from clusterctl.drills.observe import CallRecord, Observations
from clusterctl.drills.run import Check, Drill, mark_fault
from clusterctl.drills.thresholds import Limit, Thresholds
from clusterctl.model import Cluster

# A failed INVITE "caused" the exclusion when the exclusion was seen between EARLY before and
# LATE after its timeout (start + F) should have fired: the poll lags by one interval, and
# OpenSIPS's 1 s timer tick fires a 2 s timeout after 2.0-3.0 s.
MECHANISM_EARLY_S = 0.5
MECHANISM_LATE_S = 1.5
# Traffic kept flowing after detection, so calls in the exclusion window are counted too.
WINDOW_AFTER_DETECTION_S = 3.0


@dataclass(frozen=True)
class FailoverTimes:
    """The instants a failover drill is measured between (absolute times, None: not seen)."""

    fault: float
    excluded: float | None
    restore: float | None
    reincluded: float | None


def times_of(obs: Observations, target: str) -> FailoverTimes:
    """Fault, exclusion, restore and re-inclusion of ``target`` in ``obs``.

    ``restore`` in the result is when the target answered a probe-host OPTIONS again
    (``answers``) when the stream has it, else when the restore took effect. Re-inclusion is
    the first selectable poll after the restore took effect; the edge's own ping can beat the
    probe host's, so it may come before ``answers`` (see :func:`reinclusion_s`).
    """
    series = analysis.selectable_series(obs.dest, target)
    fault = obs.marks["fault"]
    excluded = analysis.first_change(series, fault, to=False)
    restored = obs.marks.get("restore")
    back_from = obs.marks.get("answers", restored)
    reincluded = None
    if restored is not None and excluded is not None:
        reincluded = analysis.first_change(series, max(restored, excluded), to=True)
    return FailoverTimes(fault, excluded, back_from, reincluded)


def reinclusion_s(times: FailoverTimes) -> float | None:
    """Seconds from "answers again" to re-inclusion; 0 when the edge was first."""
    delta = _delta(times.reincluded, times.restore)
    return None if delta is None else max(0.0, delta)


def first_choice(cluster: Cluster, call: CallRecord, target: str) -> bool:
    """Whether the edge would have sent ``call`` to ``target`` first (its tenant's primary)."""
    tenant = next((t for t in cluster.settings.tenants if t.id == call.tenant), None)
    if tenant is None:
        return False
    shard = cluster.settings.shards.get(tenant.shard)
    return shard is not None and shard.primary == target


def mechanism(
    obs: Observations, cluster: Cluster, target: str, times: FailoverTimes
) -> tuple[str | None, CallRecord | None]:
    """("failed call", the call) or ("probing", None); (None, None) when never excluded.

    A call placed after the fault whose first choice was the target and whose INVITE timeout
    (``invite_timeout``) ran out just before the exclusion was seen is what marked it; an
    exclusion seen long after every such timeout came from probing (the call did not mark).
    """
    if times.excluded is None:
        return None, None
    timeout = cluster.settings.dispatcher.invite_timeout
    for call in analysis.calls_between(obs.settled_calls(), times.fault, times.excluded):
        if not first_choice(cluster, call, target) or call.answered_by == target:
            continue
        lag = times.excluded - (call.start + timeout)
        if -MECHANISM_EARLY_S <= lag <= MECHANISM_LATE_S:
            return "failed call", call
    return "probing", None


def analyze(
    obs: Observations, cluster: Cluster, target: str, limits: Thresholds
) -> tuple[list[Check], dict[str, Any]]:
    """Checks and facts of one failover run (pure: replayable on recorded streams)."""
    times = times_of(obs, target)
    how, by_call = mechanism(obs, cluster, target, times)
    calls = obs.settled_calls()
    back = obs.marks.get("back_by_itself")
    window_end = (
        times.reincluded
        or (back if times.excluded is None else None)
        or max([c.start for c in calls] + [s.t for s in obs.dest] + [times.fault]) + 1e-9
    )
    in_window = analysis.calls_between(calls, times.fault, window_end)
    # Under traffic the bound runs from the first call that meets the dead server: how soon
    # one comes depends on how many calls the target's shard gets, not on the edge.
    first_hit = min((c.start for c in in_window if first_choice(cluster, c, target)), default=None)
    traffic_hit = first_hit is not None
    detect_limit = limits.detection_traffic_s if traffic_hit else limits.detection_idle_s
    series = analysis.selectable_series(obs.dest, target)
    changes = analysis.transitions(series)
    expected = (times.excluded is not None) + (times.reincluded is not None)
    others = analysis.hosts_excluded(obs.dest, but=target)
    pdds = [c.pdd for c in in_window if c.pdd is not None]
    if times.excluded is None and back is not None:
        # Restarted by its supervisor (systemd Restart=) before any bound ran out: nothing
        # was due to be excluded, so neither detection nor re-inclusion can be measured. The
        # outage itself is held to the detection limit (longer, and it should have been).
        checks = [
            Check(
                "outage, back by itself (never excluded)",
                _delta(back, times.fault),
                detect_limit,
                "s",
                note="answered again before the edge's bound; nothing to exclude",
            )
        ]
        how = "none (back by itself)"
    else:
        checks = [
            Check(
                "detection (under traffic)" if traffic_hit else "detection (idle)",
                _delta(times.excluded, first_hit if first_hit is not None else times.fault),
                detect_limit,
                "s",
                note=(f"excluded by {how}" if how else "never excluded")
                + (
                    f"; from the first call to {target}, {first_hit - times.fault:.2f} s after"
                    " the fault"
                    if first_hit is not None
                    else ""
                ),
            ),
            Check(
                "re-inclusion",
                reinclusion_s(times),
                limits.reinclusion_s,
                "s",
                note="from the target answering again"
                if "answers" in obs.marks
                else "from restore",
            ),
        ]
    checks += [
        Check("state flaps", float(len(changes) - expected), limits.max_flaps, ""),
        Check(
            "healthy destinations excluded",
            float(len(others)),
            Limit(0, "0", "computed"),
            "",
            note=", ".join(others),
        ),
    ]
    if obs.meta.get("traffic", True):
        checks += [
            Check(
                "failed calls in window",
                float(sum(not c.ok for c in in_window)),
                limits.max_failed_calls,
                "",
                note=f"{len(in_window)} calls in window",
            ),
            Check(
                "post-dial delay p99",
                analysis.percentile(pdds, 99),
                limits.pdd_p99_s,
                "s",
                note=f"p50 {_fmt(analysis.percentile(pdds, 50))} s, "
                f"p95 {_fmt(analysis.percentile(pdds, 95))} s",
            ),
        ]
    facts: dict[str, Any] = {
        "target": target,
        "mechanism": how,
        "marked_by_call": by_call.call_id if by_call else None,
        "times": {k: v for k, v in vars(times).items()},
        "transitions": [{"t": t, "selectable": v} for t, v in changes],
        "answered_by": {
            "before": analysis.answered_by(analysis.calls_between(calls, 0, times.fault)),
            "during": analysis.answered_by(in_window),
            "after": analysis.answered_by(analysis.calls_between(calls, window_end, 1e18)),
        },
        "pdd": {p: analysis.percentile(pdds, p) for p in (50, 95, 99)},
        "poll_errors": len(obs.errors),
    }
    return checks, facts


def _delta(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else round(end - start, 3)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class FailoverDrill(Drill):
    """Kill/stop/freeze/cut off one feature server and watch the edge react."""

    name = "failover"

    def __init__(
        self,
        cluster: Cluster,
        target: str,
        fault: str,
        probes: Probes,
        limits: Thresholds,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.target = target
        self.fault = fault
        self.probes = probes
        self.limits = limits
        self.clock = clock

    def plan(self) -> list[tuple[str, str]]:
        edge = ", ".join(self.cluster.members("sip_edge"))
        probe = self.probes.traffic_host or "(no probe host: no traffic)"
        return [
            (
                edge,
                "poll the dispatcher over the management interface at "
                f"{1 / self.probes.poll_interval:g} Hz",
            ),
            (probe, "send background calls as registered test users"),
            (self.target, f"{self.fault}: {self.probes.describe_fault(self.target, self.fault)}"),
            (self.target, f"restore: {self.probes.describe_restore(self.target, self.fault)}"),
        ]

    def steady_state(self) -> list[str]:
        problems = self.probes.edge_problems()
        sets = self.probes.last_sets
        if not problems and not any(d.host == self.target for d in sets):
            problems.append(f"{self.target} is in no dispatcher set of the active edge node")
        problems += [
            f"destination {d.uri} ({d.host or 'unknown host'}) is not selectable "
            f"(state {d.raw_state})"
            for d in sets
            if not d.selectable
        ]
        return problems

    def start_observing(self, obs: Observations) -> None:
        obs.meta.update(
            drill=self.name,
            target=self.target,
            fault=self.fault,
            engine=self.cluster.settings.edge_engine,
            traffic=self.probes.traffic_host is not None,
        )
        self.probes.start(obs)

    def stop_observing(self, obs: Observations) -> None:
        self.probes.stop(obs)

    def inject(self, obs: Observations) -> None:
        mark_fault(obs, self.probes.clock,
                   lambda: self.probes.faults.inject(self.target, self.fault))

    def await_effect(self, obs: Observations) -> None:
        """Until the edge excludes the target, or the target is back by itself (seen down,
        then answering again: a supervisor restarted it), or a bounded timeout."""
        limit = max(self.limits.detection_idle_s.value, self.limits.detection_traffic_s.value)
        seen_down = False

        def reacted() -> bool:
            nonlocal seen_down
            if times_of(obs, self.target).excluded is not None:
                return True
            asked = self.probes.clock()
            answers = self.probes.answers_now(self.target)
            if answers is False:
                seen_down = True
            elif answers and seen_down:
                obs.mark("back_by_itself", asked)
                return True
            return False

        if wait_until(reacted, timeout=2 * limit + 2, clock=self.clock):
            time.sleep(WINDOW_AFTER_DETECTION_S)

    def restore(self, obs: Observations) -> None:
        obs.mark("restore", self.probes.faults.restore(self.target, self.fault))
        answered = self.probes.wait_answers(self.target, timeout=30.0)
        if answered is not None:
            obs.mark("answers", answered)

    def await_recovery(self, obs: Observations) -> None:
        wait_until(
            lambda: times_of(obs, self.target).reincluded is not None,
            timeout=self.cluster.settings.dispatcher.ping_interval * 2 + 5,
            clock=self.clock,
        )
        # A few seconds after re-inclusion show calls returning to the primary ("after").
        time.sleep(WINDOW_AFTER_DETECTION_S)

    def analyze(self, obs: Observations) -> tuple[list[Check], dict[str, Any]]:
        return analyze(obs, self.cluster, self.target, self.limits)
