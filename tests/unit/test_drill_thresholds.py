"""Limits computed from the inventory's timers, and inventory overrides."""

from __future__ import annotations

import pytest

from clusterctl.drills.thresholds import thresholds_for, vrrp_skew
from clusterctl.model import ClusterSettings

BASE = {
    "cluster_name": "t",
    "vrrp_instances": [{"name": "edge", "vip": "10.0.0.10", "prefix": 24, "router_id": 1}],
    "shards": {"s": {"primary": "a", "secondary": "b"}},
    "tenants": [{"id": "x", "name": "X", "domain": "x.example.org", "shard": "s"}],
}


def settings(**extra):
    return ClusterSettings.model_validate({**BASE, **extra})


def test_shipped_timers_give_the_issue_targets():
    limits = thresholds_for(settings())
    assert limits.detection_idle_s.value == 6.5  # N*I+F = 6 s + OpenSIPS tick margin
    assert "4-6 s" in limits.detection_idle_s.bound
    # OpenSIPS (the default engine) fires the 2 s INVITE timeout up to one 1 s tick late.
    assert limits.detection_traffic_s.value == 3.5
    assert "+ 1 s timer tick" in limits.detection_traffic_s.bound
    assert limits.reinclusion_s.value == 2.5  # the next probe, I = 2 s, + tick margin
    assert limits.max_flaps.value == 2
    assert limits.max_failed_calls.value == 0
    assert limits.pdd_p99_s.value == 4.0
    assert limits.vip_takeover_s.value == 2.0
    assert limits.split_brain_s.value == 2.0
    assert {lim.source for lim in vars(limits).values()} == {"computed"}


def test_slow_timers_raise_the_computed_bound():
    limits = thresholds_for(
        settings(dispatcher={"ping_interval": 10, "probing_threshold": 3, "invite_timeout": 30})
    )
    assert limits.detection_idle_s.value == 60.5
    assert limits.detection_traffic_s.value == 31.5
    assert limits.pdd_p99_s.value == 32.0


def test_kamailio_timers_are_exact():
    limits = thresholds_for(settings(edge_engine="kamailio"))
    assert limits.detection_traffic_s.value == 2.5
    assert limits.pdd_p99_s.value == 3.0
    assert "tick" not in limits.detection_traffic_s.bound


def test_inventory_value_wins_and_keeps_the_bound():
    limits = thresholds_for(settings(drill_thresholds={"detection_idle_s": 5.0}))
    assert limits.detection_idle_s.value == 5.0
    assert limits.detection_idle_s.source == "inventory"
    assert "N*I+F" in limits.detection_idle_s.bound


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("kill", 2.0),
        ("stop-keepalived", 2.0),
        # Silent master: 3 * 0.5 + (156/256) * 0.5 + 0.5
        ("freeze", 3 * 0.5 + 156 / 256 * 0.5 + 0.5),
        ("netcut", 3 * 0.5 + 156 / 256 * 0.5 + 0.5),
    ],
)
def test_vip_takeover_limit_depends_on_whether_the_master_is_silent(fault, expected):
    s = settings(vrrp_instances=[{**BASE["vrrp_instances"][0], "advert_int": 0.5}])
    assert thresholds_for(s, vip_fault=fault).vip_takeover_s.value == pytest.approx(
        expected, abs=1e-3
    )


def test_vrrpv3_skew_scales_with_advert_int():
    assert vrrp_skew(1.0, 100) == pytest.approx(156 / 256)
    assert vrrp_skew(0.1, 254) == pytest.approx(0.1 * 2 / 256)
