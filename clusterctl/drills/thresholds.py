"""Drill pass/fail limits, each with the theoretical bound it comes from.

Defaults are computed from the inventory's timers (docs/inventory.md, ``drill_thresholds``), so
a cluster left at slow timers fails its drills instead of passing against a loose limit. A
value set in ``drill_thresholds`` replaces the computed limit; the bound is still shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterctl.engines import engine
from clusterctl.model import ClusterSettings, VrrpInstance

# OpenSIPS runs its timers on a 1 s tick: pings 1.9-3.0 s apart and a 2 s timeout firing after
# 2.0-3.0 s stretch N*I+F by about 0.5 s (measured 4.15-5.91 s for N*I+F = 6 s, worst case 6.5).
TIMER_MARGIN_S = 0.5
MAX_FLAPS = 2
MAX_FAILED_CALLS = 0
# The edge's keepalived role gives the backup this priority (VRRPv3 skew = (256-p)/256 * A).
VRRP_BACKUP_PRIORITY = 100
# Issue 6's target for an engine killed under vrrp_track_process (the master leaves at once).
VIP_TAKEOVER_TRACKED_S = 2.0


@dataclass(frozen=True)
class Limit:
    """One limit: ``value`` is what the drill is held to, ``bound`` what theory predicts."""

    value: float
    bound: str
    source: str  # "computed" or "inventory"


@dataclass(frozen=True)
class Thresholds:
    """Every limit a drill checks."""

    detection_idle_s: Limit
    detection_traffic_s: Limit
    reinclusion_s: Limit
    max_flaps: Limit
    max_failed_calls: Limit
    pdd_p99_s: Limit
    vip_takeover_s: Limit
    split_brain_s: Limit


def vrrp_skew(advert_int: float, priority: int = VRRP_BACKUP_PRIORITY) -> float:
    """VRRPv3 skew time of a backup with ``priority`` (RFC 5798 6.1)."""
    return (256 - priority) / 256 * advert_int


def _pick(override: float | int | None, computed: float, bound: str) -> Limit:
    if override is not None:
        return Limit(float(override), bound, "inventory")
    return Limit(round(computed, 3), bound, "computed")


def thresholds_for(
    settings: ClusterSettings, vrrp: VrrpInstance | None = None, vip_fault: str = "kill"
) -> Thresholds:
    """Limits for ``settings``; ``vip_fault`` picks the takeover bound (see below).

    A master whose engine is killed or whose keepalived stops leaves at once (tracked process
    / priority-0 advert), so the backup takes over after the skew alone; a frozen or cut-off
    master is silent and the backup waits the full master-down interval 3*A + skew.
    """
    timers = settings.dispatcher
    given = settings.drill_thresholds
    n, i, f = timers.probing_threshold, timers.ping_interval, timers.invite_timeout
    # The INVITE timeout fires up to one timer tick late (OpenSIPS: 1 s; Kamailio: exact).
    tick = engine(settings.edge_engine).timer_tick_s
    idle_hi = n * i + f
    idle_lo = (n - 1) * i + f
    inst = vrrp or settings.edge_vrrp
    a = inst.advert_int
    skew = vrrp_skew(a)
    if vip_fault in ("freeze", "netcut"):
        vip_bound = f"3*A + skew = {3 * a + skew:.2f} s (A={a:g} s, silent master)"
        vip_limit = 3 * a + skew + TIMER_MARGIN_S
    else:
        vip_bound = f"skew = {skew:.2f} s (priority-0 advert / tracked process, A={a:g} s)"
        vip_limit = VIP_TAKEOVER_TRACKED_S
    return Thresholds(
        detection_idle_s=_pick(
            given.detection_idle_s,
            idle_hi + TIMER_MARGIN_S,
            f"(N-1)*I+F .. N*I+F = {idle_lo:g}-{idle_hi:g} s (N={n}, I={i} s, F={f} s)",
        ),
        detection_traffic_s=_pick(
            given.detection_traffic_s,
            f + tick + TIMER_MARGIN_S,
            f"F = {f:g} s from the first call to the dead server (its failed INVITE marks it)"
            + (f", + {tick:g} s timer tick" if tick else ""),
        ),
        # The drill sees the server answer its own OPTIONS; the edge notices at its next
        # probe, up to one ping interval later (and within 0.8 s of that probe's reply,
        # measured on both engines).
        reinclusion_s=_pick(
            given.reinclusion_s,
            i + TIMER_MARGIN_S,
            f"<= I = {i:g} s (the edge's next probe after the server answers)",
        ),
        max_flaps=_pick(given.max_flaps, MAX_FLAPS, "0 (one exclusion, one re-inclusion)"),
        max_failed_calls=_pick(
            given.max_failed_calls, MAX_FAILED_CALLS, "0 (failover within the call)"
        ),
        pdd_p99_s=_pick(
            given.pdd_p99_s,
            f + 1.0 + tick,
            f"F + ringing = {f + 1:g} s" + (f", + {tick:g} s timer tick" if tick else ""),
        ),
        vip_takeover_s=_pick(given.vip_takeover_s, vip_limit, vip_bound),
        split_brain_s=Limit(2 * a, f"2*A = {2 * a:g} s", "computed"),
    )
