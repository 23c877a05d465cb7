"""``clusterctl chaos``: a seeded sequence of faults across the cluster's tiers.

Each fault runs as its tier's drill, with that drill's own traffic from the probe host (calls
as registered test users of every tenant; REGISTER refresh in drill db; calls held across
the takeover in drill vip): edge = drill vip on the node holding the VIP, feature = drill
failover, db = drill db, web = drill web. With ``max_concurrent`` above 1 a fault may bring
companions: faults on other tiers, injected right after it and restored right before it. At
most one fault per tier is in place at a time, so every tier keeps a working node.

Before the first fault the whole cluster must be healthy (``clusterctl status``) or nothing is
touched; after each restore it must be healthy again within HEAL_BOUND_S, else the run stops
there. The schedule depends only on the seed, the tiers and their hosts: the same seed replays
the same sequence (how many of its faults fit the duration depends on how long each took).

Verdict: every fault healed, no drill error, failed calls at most FAILED_CALL_RATIO_MAX of
all calls, no registration lost (after each fault, every test user registered when its traffic
started is still served by the VIP holder). The drills' own checks are per-fault figures:
their single-fault limits do not hold under overlapping faults.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from clusterctl.drills import SERVICE_FAULTS, VIP_FAULTS
from clusterctl.drills.live import FaultBackend
from clusterctl.drills.observe import Observations
from clusterctl.drills.run import Check, Drill, DrillRun, SteadyStateBroken, run_once
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.web import WEB_GROUP

# Tier -> the inventory group its faults target. storage (GlusterFS voicemail) is a tier the
# design has and this version does not deploy: naming it is refused with that reason.
TIER_GROUPS = {"edge": "sip_edge", "feature": "feature_servers", "db": "databases",
               "web": WEB_GROUP, "storage": "storage"}
TIER_FAULTS = {"edge": VIP_FAULTS, "feature": SERVICE_FAULTS, "db": SERVICE_FAULTS,
               "web": SERVICE_FAULTS}
# The edge tier's drill faults whichever node holds the VIP when it starts.
VIP_HOLDER = "VIP holder"
MIN_DURATION_S = 60
MAX_DURATION_S = 86_400
# Seven times the slowest heal measured in the lab (12.9 s, a killed FreeSWITCH restarting, in
# a 30-minute run), short enough to catch a stuck fault.
HEAL_BOUND_S = 90.0
HEAL_POLL_S = 2.0
FAILED_CALL_RATIO_MAX = 0.001
# About the quickest fault seen in the lab (a drill with its recovery and the heal check,
# 13-15 s): a dry run lists as many faults as could start within the duration at that pace.
QUICKEST_FAULT_S = 15.0

ChaosVerdict = Literal["pass", "fail", "aborted"]


@dataclass(frozen=True)
class Companion:
    """A fault overlapping the scheduled one, on another tier."""

    tier: str
    host: str
    kind: str


@dataclass(frozen=True)
class ScheduledFault:
    number: int
    tier: str
    target: str
    kind: str
    companions: tuple[Companion, ...] = ()

    def describe(self) -> str:
        """``#3 db: netcut db1 (+ web: kill web2)``."""
        text = f"#{self.number} {self.tier}: {self.kind} {self.target}"
        if self.companions:
            text += " (+ " + ", ".join(f"{c.tier}: {c.kind} {c.host}"
                                       for c in self.companions) + ")"
        return text


def parse_options(duration: str, seed: str, tiers: str | None, max_concurrent: str,
                  available: Mapping[str, str | None]) -> tuple[float, int, tuple[str, ...], int]:
    """(duration s, seed, tiers, max concurrent faults) from the command line's strings.

    ``available`` maps each tier to None when it can be faulted, else why not. BadInput (one
    line) for: a duration outside MIN_DURATION_S..MAX_DURATION_S, a seed that is not an
    integer, an unknown tier or one that cannot be faulted, a concurrency outside 1..tiers.
    """
    try:
        duration_s = float(duration)
    except ValueError:
        raise BadInput(f"--duration must be a number of seconds, got {duration!r}") from None
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise BadInput(f"--duration must be {MIN_DURATION_S}-{MAX_DURATION_S} s, got {duration}")
    try:
        seed_value = int(seed)
    except ValueError:
        raise BadInput(f"--seed must be an integer, got {seed!r}") from None
    if tiers is None:
        chosen = tuple(t for t, why in available.items() if why is None)
        if not chosen:
            raise BadInput("no tier of this inventory can be faulted: "
                           + "; ".join(f"{t}: {why}" for t, why in available.items()))
    else:
        chosen = tuple(dict.fromkeys(t.strip() for t in tiers.split(",") if t.strip()))
        if not chosen:
            raise BadInput("--tiers names no tier")
        for tier in chosen:
            if tier not in available:
                raise BadInput(f"unknown tier {tier!r} (tiers: {', '.join(available)})")
            if available[tier] is not None:
                raise BadInput(f"tier {tier}: {available[tier]}")
    try:
        concurrent = int(max_concurrent)
    except ValueError:
        raise BadInput(
            f"--max-concurrent-faults must be an integer, got {max_concurrent!r}") from None
    if not 1 <= concurrent <= len(chosen):
        raise BadInput(f"--max-concurrent-faults must be 1-{len(chosen)} (one fault per tier at "
                       f"a time, {len(chosen)} tier(s)), got {concurrent}")
    return duration_s, seed_value, chosen, concurrent


@dataclass(frozen=True)
class Tier:
    """A tier as a run faults it: its hosts and the fault kinds the backend can do to all."""

    name: str
    hosts: tuple[str, ...]
    faults: tuple[str, ...]


def schedule(seed: int, tiers: Mapping[str, Tier],
             max_concurrent: int = 1) -> Iterator[ScheduledFault]:
    """The endless fault sequence of ``seed`` over ``tiers``.

    Each step picks a tier, a target and a fault kind, then up to ``max_concurrent`` - 1
    companions on other tiers. Only the seed and the tiers (names, hosts, kinds) decide it.
    """
    rng = random.Random(seed)
    names = sorted(tiers)
    number = 0
    while True:
        number += 1
        tier = tiers[rng.choice(names)]
        target = VIP_HOLDER if tier.name == "edge" else rng.choice(sorted(tier.hosts))
        kind = rng.choice(tier.faults)
        others = [t for t in names if t != tier.name]
        extra = rng.randint(0, min(max_concurrent - 1, len(others)))
        companions = tuple(
            Companion(t, rng.choice(sorted(tiers[t].hosts)), rng.choice(tiers[t].faults))
            for t in sorted(rng.sample(others, extra))
        )
        yield ScheduledFault(number, tier.name, target, kind, companions)


class WithCompanions(Drill):
    """A drill whose fault brings companion faults: injected right after its own, restored
    right before its own (its restore runs also when a companion's fails; the failures are
    raised together afterwards)."""

    def __init__(self, inner: Drill, backend: FaultBackend,
                 companions: tuple[Companion, ...]) -> None:
        self.inner = inner
        self.name = inner.name
        self.probes = inner.probes
        self.baseline_s = inner.baseline_s
        self.backend = backend
        self.companions = companions
        self._injected: list[Companion] = []

    def plan(self) -> list[tuple[str, str]]:
        return self.inner.plan() + [
            (c.host, f"{self.backend.describe(c.host, c.kind)} (companion), then "
                     f"{self.backend.describe_restore(c.host, c.kind)}")
            for c in self.companions
        ]

    def steady_state(self) -> list[str]:
        return self.inner.steady_state()

    def start_observing(self, obs: Observations) -> None:
        self.inner.start_observing(obs)

    def stop_observing(self, obs: Observations) -> None:
        self.inner.stop_observing(obs)

    def inject(self, obs: Observations) -> None:
        self.inner.inject(obs)
        for companion in self.companions:
            self._injected.append(companion)
            obs.mark(f"companion {companion.kind} {companion.host}",
                     self.backend.inject(companion.host, companion.kind))

    def await_effect(self, obs: Observations) -> None:
        self.inner.await_effect(obs)

    def restore(self, obs: Observations) -> None:
        errors = []
        try:
            while self._injected:
                companion = self._injected.pop()
                try:
                    obs.mark(f"companion restored {companion.host}",
                             self.backend.restore(companion.host, companion.kind))
                except ClusterctlError as exc:
                    errors.append(f"{companion.host}: {exc.message}")
        finally:
            self.inner.restore(obs)
        if errors:
            raise ClusterctlError("companion restore failed: " + "; ".join(errors))

    def await_recovery(self, obs: Observations) -> None:
        self.inner.await_recovery(obs)

    def analyze(self, obs: Observations) -> tuple[list[Check], dict[str, Any]]:
        return self.inner.analyze(obs)


@dataclass
class FaultResult:
    """One scheduled fault as it ran."""

    fault: ScheduledFault
    run: DrillRun
    # From the restore to the cluster healthy again (None: not within heal_bound_s).
    healed_s: float | None = None
    heal_bound_s: float = HEAL_BOUND_S
    heal_problems: list[str] = field(default_factory=list)
    registered: int = 0
    # Of ``registered``, how many the VIP holder no longer served (None: could not be read).
    registrations_lost: int | None = None

    @property
    def calls(self) -> int:
        return len(self.run.obs.settled_calls())

    @property
    def failed_calls(self) -> int:
        return sum(not c.ok for c in self.run.obs.settled_calls())

    @property
    def problems(self) -> list[str]:
        """Why this fault fails the run (empty: it does not)."""
        out = []
        if self.run.error:
            out.append(f"drill error: {self.run.error}")
        if self.run.restore_error:
            out.append(f"restore failed: {self.run.restore_error}")
        if self.healed_s is None and not self.run.aborted:
            out.append(f"not healthy {self.heal_bound_s:g} s after the restore: "
                       + "; ".join(self.heal_problems or ["not checked"]))
        if self.registrations_lost is None and self.registered:
            out.append("registrations after the fault could not be read")
        elif self.registrations_lost:
            out.append(f"{self.registrations_lost} of {self.registered} registrations lost")
        return out


@dataclass
class ChaosRun:
    seed: int
    duration_s: float
    tiers: tuple[str, ...]
    max_concurrent: int
    started: float
    faults: list[FaultResult] = field(default_factory=list)
    ended: float = 0.0
    aborted: bool = False
    # Why the run stopped before its duration was spent (None: it was spent).
    stopped: str | None = None

    @property
    def calls(self) -> int:
        return sum(f.calls for f in self.faults)

    @property
    def failed_calls(self) -> int:
        return sum(f.failed_calls for f in self.faults)

    @property
    def failed_call_ratio(self) -> float | None:
        return self.failed_calls / self.calls if self.calls else None

    @property
    def registrations_lost(self) -> int:
        return sum(f.registrations_lost or 0 for f in self.faults)

    @property
    def problems(self) -> list[str]:
        out = [f"{f.fault.describe()}: {p}" for f in self.faults for p in f.problems]
        if self.stopped:
            out.append(f"stopped early: {self.stopped}")
        if not self.faults:
            out.append("no fault ran")
        ratio = self.failed_call_ratio
        if ratio is None and self.faults:
            out.append("no call was made")
        elif ratio is not None and ratio > FAILED_CALL_RATIO_MAX:
            out.append(f"failed-call ratio {100 * ratio:.2f} % ({self.failed_calls} of "
                       f"{self.calls}) above {100 * FAILED_CALL_RATIO_MAX:g} %")
        return out

    @property
    def verdict(self) -> ChaosVerdict:
        if self.aborted:
            return "aborted"
        return "fail" if self.problems else "pass"


@dataclass
class Chaos:
    """What a run needs from the cluster, each part replaceable by the unit tests.

    ``build(fault)`` builds the fault's drill (companions included); ``health()`` the whole
    cluster's problems now (empty: healthy); ``served(aors)`` how many of ``aors`` the VIP
    holder serves (raises when it cannot be read).
    """

    build: Callable[[ScheduledFault], Drill]
    health: Callable[[], list[str]]
    served: Callable[[tuple[str, ...]], int]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    heal_bound_s: float = HEAL_BOUND_S
    # One line per fault as it ends (a 30-minute run is otherwise silent).
    say: Callable[[str], None] = lambda _line: None

    def run(self, plan: Iterator[ScheduledFault], result: ChaosRun) -> ChaosRun:
        """Faults from ``plan`` until ``result.duration_s`` is spent, each healed before the
        next. Raises SteadyStateBroken (nothing touched) when the cluster is not healthy at
        the start; Ctrl-C restores the fault in place (run_once) and ends the run aborted."""
        problems = self.health()
        if problems:
            raise SteadyStateBroken("chaos: the cluster is not healthy, nothing was touched: "
                                    + "; ".join(problems))
        end = result.started + result.duration_s
        try:
            for fault in plan:
                if self.clock() >= end:
                    break
                if not self._one(fault, result):
                    break
        except KeyboardInterrupt:
            result.aborted = True
        result.ended = self.clock()
        return result

    def _one(self, fault: ScheduledFault, result: ChaosRun) -> bool:
        """Run ``fault`` and wait for the cluster to heal; False: the run must stop."""
        drill = self.build(fault)
        try:
            run = run_once(drill, fault.number, self.clock, self.sleep)
        except SteadyStateBroken as exc:
            result.stopped = f"{fault.describe()}: {exc.message}"
            return False
        entry = FaultResult(fault, run, heal_bound_s=self.heal_bound_s,
                            registered=len(drill.probes.registered))
        result.faults.append(entry)
        if run.aborted:
            result.aborted = True
            return False
        if run.restore_error:
            result.stopped = f"{fault.describe()}: restore failed, the fault may still be in place"
            return False
        if entry.registered:
            try:
                entry.registrations_lost = entry.registered - self.served(drill.probes.registered)
            except (ClusterctlError, OSError, RuntimeError):
                entry.registrations_lost = None
        since = run.obs.marks.get("restore", self.clock())
        entry.healed_s, entry.heal_problems = self._heal(since)
        self.say(progress_line(entry))
        if entry.healed_s is None:
            result.stopped = f"{fault.describe()} did not heal"
            return False
        return True

    def _heal(self, since: float) -> tuple[float | None, list[str]]:
        """Seconds from ``since`` until ``health`` finds no problem (None and the last
        problems when the bound passed first)."""
        deadline = since + self.heal_bound_s
        while True:
            problems = self.health()
            now = self.clock()
            if not problems:
                return max(now - since, 0.0), []
            if now >= deadline:
                return None, problems
            self.sleep(HEAL_POLL_S)


def progress_line(entry: FaultResult) -> str:
    """``#3 edge: kill VIP holder (edge1): 60 calls, 1 failed, healed after 5.8 s``."""
    target = entry.run.facts.get("target")
    where = f" ({target})" if entry.fault.target == VIP_HOLDER and target else ""
    healed = ("not healed" if entry.healed_s is None
              else f"healed after {entry.healed_s:.1f} s")
    line = (f"{entry.fault.describe()}{where}: {entry.calls} calls, {entry.failed_calls} "
            f"failed, {healed}")
    return line + "".join(f"; {p}" for p in entry.problems if not p.startswith("not healthy"))


def dry_run(plan: Iterator[ScheduledFault], duration_s: float) -> list[ScheduledFault]:
    """The faults that could start within ``duration_s`` at the quickest pace seen."""
    count = max(1, int(duration_s // QUICKEST_FAULT_S))
    return [next(plan) for _ in range(count)]
