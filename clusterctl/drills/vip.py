"""``drill vip``: the active edge node fails; the backup must take the VIP over.

Measured: takeover time (fault -> the backup alone holds the VIP), split brain (two owners for
longer than 2 x advert_int), registrations before and after (none lost), and whether calls
established before the fault can still be torn down with BYE afterwards.

Registrations are the drill's own test users, registered through the VIP just before the
fault: the old holder served them, the new one must. All contacts are counted only when the
drill runs without them (no probe host); then a contact that expires during the drill counts
as lost too (the lab's contract suite leaves some that expire minutes later).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from clusterctl.drills import analysis
from clusterctl.drills.live import Probes, wait_until
from clusterctl.drills.observe import Observations, VipSample
from clusterctl.drills.run import Check, Drill, mark_fault
from clusterctl.drills.thresholds import Limit, Thresholds
from clusterctl.model import Cluster, VrrpInstance

# Watch this long after takeover: a master coming back too eagerly shows up as a dual owner.
WATCH_AFTER_TAKEOVER_S = 3.0
# How long after its hang-up a held call's BYE may take (SIPp retransmits it 0.5, 1, 2 s).
BYE_GRACE_S = 4.0


def analyze(
    obs: Observations, vrrp: VrrpInstance, old_owner: str, limits: Thresholds
) -> tuple[list[Check], dict[str, Any]]:
    """Checks and facts of one VIP run (pure: replayable on recorded streams)."""
    fault = obs.marks["fault"]
    calls = obs.settled_calls()
    samples, cut_off_s = _without_cut_off_holder(obs, old_owner)
    own = analysis.vip_ownership(samples, fault, old_owner)
    before = obs.registrations.get("before")
    after = obs.registrations.get("after")
    lost = None if before is None or after is None else float(max(0, before - after))
    # Calls answered before the fault and not yet torn down when it hit: a BYE answered
    # before the fault proves nothing about the new owner, one still being retransmitted
    # does. Recordings made before ``bye_end`` existed only have ``bye_at``.
    established = [
        c
        for c in calls
        if c.ok
        and c.start < fault
        and (c.end or 0) < fault
        and (c.bye_status is None or (c.bye_end or c.bye_at or fault) >= fault)
    ]
    torn_down = [c for c in established if c.bye_status == 200]
    bye_ratio = 100.0 * len(torn_down) / len(established) if established else None
    takeover = None if own.takeover_at is None else round(own.takeover_at - fault, 3)
    checks = [
        Check(
            "VIP takeover",
            takeover,
            limits.vip_takeover_s,
            "s",
            note=f"new owner {own.new_owner}" if own.new_owner else "no takeover seen",
        ),
        Check("split brain (two owners)", round(own.longest_dual_s, 3), limits.split_brain_s, "s"),
        Check(
            "registrations lost",
            lost,
            Limit(0, "0 (contacts replicated to the peer)", "computed"),
            "",
            note=f"{obs.meta.get('registrations', 'contacts')}: before {before}, after {after}",
        ),
    ]
    if obs.meta.get("traffic", True):
        # Calls placed once the new holder had the VIP (and after the old one came back)
        # must all work: what callers see after the takeover.
        served = [
            c for c in calls if own.takeover_at is not None and c.start >= own.takeover_at
        ]
        checks.append(
            Check(
                "failed calls after takeover",
                float(sum(not c.ok for c in served)) if own.takeover_at is not None else None,
                limits.max_failed_calls,
                "",
                note=f"{len(served)} calls; codes "
                + ", ".join(sorted({str(c.status) for c in served if not c.ok}) or ["-"]),
            )
        )
        checks.append(
            Check(
                "pre-fault calls torn down with BYE",
                bye_ratio,
                Limit(100, "100 %", "computed"),
                "%",
                higher_is_worse=False,
                note=f"{len(torn_down)}/{len(established)}",
            )
        )
    after_fault = [c for c in calls if c.start >= fault]
    facts: dict[str, Any] = {
        "vip_moves_after_restore": _moves_after_restore(obs),
        "old_owner": old_owner,
        "new_owner": own.new_owner,
        "vip": str(vrrp.vip),
        "advert_int": vrrp.advert_int,
        "longest_without_owner_s": round(own.longest_none_s, 3),
        "cut_off_holder_s": cut_off_s,
        "calls_after_fault": len(after_fault),
        "calls_cut_by_traffic_stop": len(obs.calls) - len(calls),
        "failed_calls_after_fault": sum(not c.ok for c in after_fault),
        "poll_errors": len(obs.errors),
    }
    return checks, facts


def _moves_after_restore(obs: Observations) -> int | None:
    """How often the VIP changed hands after the restore (a frozen master that wakes up still
    believes it is master and, with the higher priority, takes the VIP back). None when
    nothing was restored."""
    restore = obs.marks.get("restore")
    if restore is None:
        return None
    holders = [s.owners[0] for s in obs.vip if s.t >= restore and len(s.owners) == 1]
    return sum(a != b for a, b in pairwise(holders))


def _without_cut_off_holder(
    obs: Observations, old_owner: str
) -> tuple[list[VipSample], float | None]:
    """The VIP samples with the old owner left out while ``netcut`` isolated it.

    A cut-off node keeps the VIP on its interface (it hears no adverts), but nothing can
    reach it, so it competes with no one: it is not split brain. Only the operator's SSH
    still sees the address. Returns the samples and how long the cut-off node held it
    (None for other faults).
    """
    fault, restore = obs.marks["fault"], obs.marks.get("restore", float("inf"))
    if obs.meta.get("fault") != "netcut":
        return list(obs.vip), None
    held = [s.t for s in obs.vip if fault <= s.t < restore and old_owner in s.owners]
    samples = [
        VipSample(s.t, tuple(o for o in s.owners if o != old_owner))
        if fault <= s.t < restore
        else s
        for s in obs.vip
    ]
    return samples, round(held[-1] - held[0], 3) if held else 0.0


class VipDrill(Drill):
    """Fail the edge node holding the VIP and watch the backup take it over."""

    name = "vip"

    def __init__(
        self,
        cluster: Cluster,
        fault: str,
        probes: Probes,
        limits: Thresholds,
        registrations_on: Callable[[str, tuple[str, ...]], int],
        *,
        clock: Callable[[], float] = time.time,
        hold_s: float = 0.0,
    ) -> None:
        self.cluster = cluster
        self.fault = fault
        self.probes = probes
        self.limits = limits
        self.registrations_on = registrations_on
        self.clock = clock
        # How long each background call stays up (the probe's hold scenario).
        self.hold_s = hold_s
        self.vrrp = cluster.settings.edge_vrrp
        self.pair = cluster.members(self.vrrp.group)
        self.owner: str | None = None

    def plan(self) -> list[tuple[str, str]]:
        # Nothing is asked before the drill runs, so the holder is not known in a dry run:
        # the fault is described for the first node of the pair (both get the same one).
        owner = self.owner or f"VIP holder: {' or '.join(self.pair)}"
        example = self.owner or self.pair[0]
        rate = 1 / self.probes.poll_interval
        return [
            (
                ", ".join(self.pair),
                f"ask {rate:g} times a second whether it holds {self.vrrp.vip} (ip -o -4 addr)",
            ),
            (
                self.probes.traffic_host or "(no probe host)",
                "establish calls through the VIP, tear them down with BYE after the fault",
            ),
            (owner, f"{self.fault}: {self.probes.describe_fault(example, self.fault)}"),
            (owner, f"restore: {self.probes.describe_restore(example, self.fault)}"),
        ]

    def steady_state(self) -> list[str]:
        owners = self.probes.vip_owners(self.pair, str(self.vrrp.vip))
        if len(owners) != 1:
            return [
                f"VIP {self.vrrp.vip} is held by {len(owners)} nodes "
                f"({', '.join(owners) or 'none'}), expected exactly one"
            ]
        self.owner = owners[0]
        problems = self.probes.edge_problems()
        try:
            self.registrations_on(self.owner, ())
        except Exception as exc:  # any failure here means "not steady", named
            problems.append(f"registrations on {self.owner}: {exc}")
        return problems

    def start_observing(self, obs: Observations) -> None:
        assert self.owner is not None  # steady_state ran first
        obs.meta.update(
            drill=self.name,
            target=self.owner,
            fault=self.fault,
            engine=self.cluster.settings.edge_engine,
            traffic=self.probes.traffic_host is not None,
        )
        # Traffic starts by registering the drill's test users: count them after that.
        self.probes.start(obs, vip=(self.pair, str(self.vrrp.vip)), dispatcher=False)
        aors = self.probes.registered
        obs.meta["registrations"] = (
            f"the drill's {len(aors)} test users" if aors else "all contacts"
        )
        obs.registrations["before"] = self.registrations_on(self.owner, aors)

    def stop_observing(self, obs: Observations) -> None:
        self.probes.stop(obs)

    def inject(self, obs: Observations) -> None:
        owner = self.owner
        assert owner is not None
        mark_fault(obs, self.probes.clock, lambda: self.probes.faults.inject(owner, self.fault))

    def await_effect(self, obs: Observations) -> None:
        assert self.owner is not None
        owner = self.owner

        def new_owner() -> str | None:
            samples, _ = _without_cut_off_holder(obs, owner)
            return analysis.vip_ownership(samples, obs.marks["fault"], owner).new_owner

        if wait_until(
            lambda: new_owner() is not None,
            timeout=2 * self.limits.vip_takeover_s.value + 5,
            clock=self.clock,
        ):
            new = new_owner()
            time.sleep(WATCH_AFTER_TAKEOVER_S)
            if new is not None:
                obs.registrations["after"] = self.registrations_on(new, self.probes.registered)

    def restore(self, obs: Observations) -> None:
        assert self.owner is not None
        obs.mark("restore", self.probes.faults.restore(self.owner, self.fault))

    def await_recovery(self, obs: Observations) -> None:
        # Back to exactly one owner (keepalived may or may not preempt back).
        wait_until(
            lambda: bool(obs.vip) and len(obs.vip[-1].owners) == 1,
            timeout=3 * self.vrrp.advert_int + 5,
            clock=self.clock,
        )
        time.sleep(WATCH_AFTER_TAKEOVER_S)
        # Calls up at the fault hang up HOLD s after they started; give their BYEs (and
        # SIPp's retransmissions of those sent while nobody held the VIP) time to be
        # answered before the traffic stops (SIPp drops calls in progress when stopped).
        left = obs.marks["fault"] + self.hold_s + BYE_GRACE_S - self.clock()
        if left > 0:
            time.sleep(left)

    def analyze(self, obs: Observations) -> tuple[list[Check], dict[str, Any]]:
        return analyze(obs, self.vrrp, obs.meta.get("target") or self.owner or "", self.limits)
