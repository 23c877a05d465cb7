"""Timing, mechanism and verdict logic of both drills on the streams in tests/fixtures/drills."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterctl.drills import analysis, failover, vip
from clusterctl.drills.observe import CallRecord, DestSample, Observations, VipSample, load_jsonl
from clusterctl.drills.run import DrillRun
from clusterctl.drills.thresholds import thresholds_for
from clusterctl.model import build_cluster

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "drills"


def cluster(**settings):
    base = {
        "cluster_name": "drilltest",
        "edge_engine": "kamailio",
        "vrrp_instances": [{"name": "edge", "vip": "10.77.0.10", "prefix": 24, "router_id": 7}],
        "shards": {"shard1": {"primary": "fs1a", "secondary": "fs1b"}},
        "tenants": [
            {"id": "acme", "name": "Acme", "domain": "acme.example.org", "shard": "shard1"}
        ],
        **settings,
    }
    hosts = {
        "edge1": "10.77.0.11",
        "edge2": "10.77.0.12",
        "fs1a": "10.77.0.21",
        "fs1b": "10.77.0.22",
    }
    groups = {"sip_edge": ["edge1", "edge2"], "feature_servers": ["fs1a", "fs1b"]}
    hostvars = {
        h: {**base, "ansible_host": a, **({"shard": "shard1"} if h.startswith("fs") else {})}
        for h, a in hosts.items()
    }
    return build_cluster(groups, hostvars)


def by_name(checks):
    return {c.name: c for c in checks}


def test_idle_freeze_detected_by_probing_within_the_idle_bound():
    c = cluster()
    obs = load_jsonl(FIXTURES / "failover_idle_freeze_kamailio.jsonl")
    checks, facts = failover.analyze(obs, c, "fs1a", thresholds_for(c.settings))
    got = by_name(checks)
    # TP (first failed ping) is still selected: detection is the IP sample at 1008.4.
    assert got["detection (idle)"].measured == pytest.approx(5.4)
    assert got["detection (idle)"].limit.value == 6.5
    assert got["detection (idle)"].passed
    assert facts["mechanism"] == "probing"
    assert got["re-inclusion"].measured == pytest.approx(0.58)
    assert got["state flaps"].measured == 0
    assert "failed calls in window" not in got  # no traffic in this stream
    assert all(c.passed for c in checks)


def test_traffic_kill_excluded_by_the_failed_call_and_calls_move_back():
    c = cluster(edge_engine="opensips")
    obs = load_jsonl(FIXTURES / "failover_traffic_kill_opensips.jsonl")
    checks, facts = failover.analyze(obs, c, "fs1a", thresholds_for(c.settings))
    got = by_name(checks)
    # From the first call to fs1a (0.1 s after the fault) to the exclusion.
    assert got["detection (under traffic)"].measured == pytest.approx(2.1)
    assert "first call to fs1a, 0.10 s after the fault" in got["detection (under traffic)"].note
    assert got["detection (under traffic)"].limit.value == 3.5  # F + OpenSIPS 1 s tick + margin
    assert facts["mechanism"] == "failed call"
    assert facts["marked_by_call"] == "c15"  # first call placed after the fault at 1003.0
    assert got["failed calls in window"].measured == 0
    assert got["post-dial delay p99"].measured == pytest.approx(2.1)
    assert facts["answered_by"]["before"] == {"fs1a": 15}
    assert facts["answered_by"]["during"] == {"fs1b": 38}
    assert set(facts["answered_by"]["after"]) == {"fs1a"}
    assert all(c.passed for c in checks)


def test_bad_run_fails_on_flaps_failed_call_pdd_and_healthy_exclusion():
    c = cluster()
    obs = load_jsonl(FIXTURES / "failover_flapping_fail.jsonl")
    checks, facts = failover.analyze(obs, c, "fs1a", thresholds_for(c.settings))
    got = by_name(checks)
    failed = {name for name, check in got.items() if not check.passed}
    # Detected 6 s after the fault, 5 s after the first call to it (limit 2.5 s), never
    # re-included after
    # restore at 1012 (the last exclusion lasts to 1015): re-inclusion is not observed.
    assert failed == {
        "detection (under traffic)",
        "re-inclusion",
        "state flaps",
        "healthy destinations excluded",
        "failed calls in window",
        "post-dial delay p99",
    }
    assert got["detection (under traffic)"].measured == pytest.approx(5.0)
    assert got["re-inclusion"].measured == pytest.approx(3.0)
    # Six changes (three exclusions, three re-inclusions), two of them expected.
    assert got["state flaps"].measured == 6 - 2
    assert got["healthy destinations excluded"].note == "fs1b"
    # bad1's timeout fired at 1006, the exclusion came at 1009: probing, not the call.
    assert facts["mechanism"] == "probing"
    run = DrillRun(1, checks=checks)
    assert run.verdict == "fail"


def test_never_excluded_is_a_failure_not_a_pass():
    c = cluster()
    obs = Observations(marks={"fault": 10.0, "restore": 20.0})
    for t in range(30):
        obs.dest.append(DestSample(float(t), 1, "sip:10.77.0.21", "fs1a", "active", "AP", True))
    obs.meta["traffic"] = False
    checks, facts = failover.analyze(obs, c, "fs1a", thresholds_for(c.settings))
    assert facts["mechanism"] is None
    assert by_name(checks)["detection (idle)"].measured is None
    assert not by_name(checks)["detection (idle)"].passed


def test_a_call_whose_timeout_fires_after_the_exclusion_did_not_cause_it():
    c = cluster()
    obs = Observations(marks={"fault": 10.0})
    for i in range(60):
        t = 9.0 + i * 0.1
        obs.dest.append(DestSample(t, 1, "u", "fs1a", "active", "AP", t < 11.0))
    # Placed at 10.5: its 2 s timeout fires at 12.5, after the 11.0 exclusion.
    obs.calls.append(CallRecord("late", 10.5, 200, 2.1, "fs1b", "acme"))
    how, call = failover.mechanism(obs, c, "fs1a", failover.times_of(obs, "fs1a"))
    assert (how, call) == ("probing", None)


def test_vip_kill_takeover_and_teardown():
    c = cluster()
    vrrp = c.settings.vrrp_instances[0]
    obs = load_jsonl(FIXTURES / "vip_kill_ok.jsonl")
    checks, facts = vip.analyze(obs, vrrp, "edge1", thresholds_for(c.settings, vip_fault="kill"))
    got = by_name(checks)
    assert got["VIP takeover"].measured == pytest.approx(0.7)
    assert got["VIP takeover"].limit.value == 2.0
    assert facts["new_owner"] == "edge2"
    assert facts["longest_without_owner_s"] == pytest.approx(0.6)
    assert got["registrations lost"].measured == 0
    assert got["pre-fault calls torn down with BYE"].measured == 100.0
    assert got["split brain (two owners)"].measured == 0
    assert all(c.passed for c in checks)


def test_a_call_cut_by_the_drills_own_traffic_stop_is_no_failed_call():
    # As seen in the lab (OpenSIPS, vip --fault kill, 2026-12-07): the stop reached SIPp as
    # it was placing a call; the 407 challenge was the last thing it saw of that call.
    c = cluster()
    vrrp = c.settings.vrrp_instances[0]
    obs = load_jsonl(FIXTURES / "vip_kill_ok.jsonl")
    last = max(s.t for s in obs.vip)  # the new owner holds the VIP by then
    obs.calls.append(CallRecord("cut", last + 0.2, 407, None, None, "acme", end=last + 0.2))
    limits = thresholds_for(c.settings, vip_fault="kill")
    checks, _ = vip.analyze(obs, vrrp, "edge1", limits)
    assert by_name(checks)["failed calls after takeover"].measured == 1  # no stop mark: kept
    obs.mark("traffic_stop", last + 0.19)
    checks, facts = vip.analyze(obs, vrrp, "edge1", limits)
    assert by_name(checks)["failed calls after takeover"].measured == 0
    assert facts["calls_cut_by_traffic_stop"] == 1
    # A call that ended on a challenge well before the stop really failed.
    obs.calls.append(CallRecord("real", last - 2.0, 407, None, None, "acme", end=last - 2.0))
    checks, facts = vip.analyze(obs, vrrp, "edge1", limits)
    assert by_name(checks)["failed calls after takeover"].measured == 1
    assert facts["calls_cut_by_traffic_stop"] == 1


def test_vip_split_brain_lost_registrations_and_refused_bye_fail():
    c = cluster()
    vrrp = c.settings.vrrp_instances[0]
    obs = load_jsonl(FIXTURES / "vip_split_brain.jsonl")
    checks, facts = vip.analyze(obs, vrrp, "edge1", thresholds_for(c.settings, vip_fault="netcut"))
    got = by_name(checks)
    assert got["split brain (two owners)"].measured == pytest.approx(3.4)
    assert not got["split brain (two owners)"].passed
    assert got["registrations lost"].measured == 2
    assert got["pre-fault calls torn down with BYE"].measured == 50.0
    assert not got["pre-fault calls torn down with BYE"].passed
    # The backup alone holds the VIP only from 1012.0: 7 s after the fault, over 3*1+skew+0.5.
    assert got["VIP takeover"].measured == pytest.approx(7.0)
    assert not got["VIP takeover"].passed
    assert facts["new_owner"] == "edge2"


def test_one_dual_sample_is_not_split_brain():
    samples = [VipSample(0.0, ("a",)), VipSample(1.0, ("a", "b")), VipSample(1.1, ("b",))]
    own = analysis.vip_ownership(samples, 0.5, "a")
    assert own.longest_dual_s == pytest.approx(0.1)
    assert own.new_owner == "b"
    assert own.takeover_at == 1.1


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 99, None),
        ([3.0], 99, 3.0),
        ([float(v) for v in range(1, 21)], 99, 20.0),
        ([float(v) for v in range(1, 21)], 95, 19.0),
        ([float(v) for v in range(1, 21)], 50, 10.0),
    ],
)
def test_nearest_rank_percentile(values, pct, expected):
    assert analysis.percentile(values, pct) == expected


def test_vip_bye_counts_only_calls_still_up_at_the_fault():
    c = cluster()
    obs = load_jsonl(FIXTURES / "vip_kill_ok.jsonl")
    # Torn down before the fault: proves nothing about the new owner, not counted.
    obs.calls.append(
        CallRecord(
            "early", 1000.5, 200, 0.05, "fs1a", "acme", end=1000.56, bye_at=1002.0, bye_status=481
        )
    )
    # Up at the fault, never torn down (SIPp stopped first): counts as not torn down.
    obs.calls.append(CallRecord("dangling", 1002.0, 200, 0.05, "fs1a", "acme", end=1002.06))
    # BYE sent just before the fault, its 200 lost with the old owner, the retransmission
    # answered through the new one: counts, and was torn down.
    obs.calls.append(
        CallRecord(
            "retransmitted", 1001.5, 200, 0.05, "fs1a", "acme", end=1001.56, bye_at=1004.8,
            bye_status=200, bye_end=1007.3,
        )
    )
    checks, _ = vip.analyze(obs, c.settings.vrrp_instances[0], "edge1", thresholds_for(c.settings))
    bye = by_name(checks)["pre-fault calls torn down with BYE"]
    assert bye.measured == pytest.approx(100 * 5 / 6) and bye.note == "5/6"


def test_reinclusion_before_the_probe_host_saw_an_answer_counts_zero():
    obs = Observations(marks={"fault": 10.0, "restore": 20.0, "answers": 20.5})
    obs.meta["traffic"] = False
    for i in range(200):
        t = 5.0 + i * 0.1
        obs.dest.append(DestSample(t, 1, "u", "fs1a", "active", "AP", not 15.0 <= t < 20.2))
    times = failover.times_of(obs, "fs1a")
    assert times.reincluded == pytest.approx(20.2)
    assert failover.reinclusion_s(times) == 0.0


def test_vip_netcut_holder_cut_off_is_not_split_brain_but_after_restore_would_be():
    c = cluster()
    vrrp = c.settings.vrrp_instances[0]
    obs = Observations(meta={"fault": "netcut", "traffic": False})
    obs.marks.update(fault=100.0, restore=110.0)
    obs.registrations.update(before=3, after=3)
    for i in range(0, 160):
        t = 95.0 + i / 10
        if t < 103.6:
            owners = ("edge1",)
        elif t < 110.4:  # cut off edge1 still shows the VIP over the operator's SSH
            owners = ("edge1", "edge2")
        else:
            owners = ("edge1",)  # higher priority back: edge2 yields within one advert
        obs.vip.append(VipSample(t, owners))
    limits = thresholds_for(c.settings, vip_fault="netcut")
    got = by_name(vip.analyze(obs, vrrp, "edge1", limits)[0])
    facts = vip.analyze(obs, vrrp, "edge1", limits)[1]
    assert got["VIP takeover"].measured == pytest.approx(3.6)
    assert got["VIP takeover"].passed  # 3*A + skew = 3.61 s, + 0.5 s margin
    assert got["split brain (two owners)"].measured == pytest.approx(0.4)  # after restore
    assert facts["cut_off_holder_s"] == pytest.approx(9.9)
    # The same samples after a reachable fault are a split brain of 6.8 s.
    obs.meta["fault"] = "stop-keepalived"
    got = by_name(vip.analyze(obs, vrrp, "edge1", limits)[0])
    assert got["split brain (two owners)"].measured == pytest.approx(6.8)
    assert not got["split brain (two owners)"].passed


def _lab():
    """The lab's inventory shape (tests/fixtures/drills/lab_*.jsonl were recorded on it)."""
    hosts = {
        "edge1": "172.29.10.11",
        "edge2": "172.29.10.12",
        "fs1a": "172.29.10.21",
        "fs1b": "172.29.10.22",
        "fs2a": "172.29.10.23",
        "fs2b": "172.29.10.24",
    }
    base = {
        "cluster_name": "lab",
        "edge_engine": "kamailio",
        "vrrp_instances": [{"name": "edge", "vip": "172.29.10.100", "prefix": 24, "router_id": 51}],
        "dispatcher": {"ping_interval": 2, "probing_threshold": 2, "invite_timeout": 2},
        "shards": {
            "shard1": {"primary": "fs1a", "secondary": "fs1b"},
            "shard2": {"primary": "fs2a", "secondary": "fs2b"},
        },
        "tenants": [
            {"id": "alpha", "name": "A", "domain": "alpha.lab.clusterctl.test", "shard": "shard1"},
            {"id": "beta", "name": "B", "domain": "beta.lab.clusterctl.test", "shard": "shard1"},
            {"id": "gamma", "name": "G", "domain": "gamma.lab.clusterctl.test", "shard": "shard2"},
        ],
    }
    shard = {"fs1a": "shard1", "fs1b": "shard1", "fs2a": "shard2", "fs2b": "shard2"}
    hostvars = {
        h: {**base, "ansible_host": a, **({"shard": shard[h]} if h in shard else {})}
        for h, a in hosts.items()
    }
    groups = {"sip_edge": ["edge1", "edge2"], "feature_servers": list(shard)}
    return build_cluster(groups, hostvars)


def test_recorded_lab_failover_netcut_under_traffic():
    # Recorded by `clusterctl drill failover --target fs1a --fault netcut` on the lab
    # (Kamailio 6.0.1, I=2 s, N=2, F=2 s, 5 calls/s from the probe).
    c = _lab()
    obs = load_jsonl(FIXTURES / "lab_failover_netcut_kamailio601.jsonl")
    checks, facts = failover.analyze(obs, c, "fs1a", thresholds_for(c.settings))
    got = by_name(checks)
    assert got["detection (under traffic)"].measured == pytest.approx(2.013)
    assert facts["mechanism"] == "failed call"
    assert got["failed calls in window"].measured == 0
    assert got["re-inclusion"].measured == pytest.approx(0.13)
    assert facts["answered_by"]["during"]["fs1b"] > 0
    assert all(check.passed for check in checks)


def test_recorded_lab_vip_kill():
    c = _lab()
    vrrp = c.settings.vrrp_instances[0]
    obs = load_jsonl(FIXTURES / "lab_vip_kill_kamailio601.jsonl")
    checks, facts = vip.analyze(obs, vrrp, "edge2", thresholds_for(c.settings, vip_fault="kill"))
    got = by_name(checks)
    assert got["VIP takeover"].measured == pytest.approx(0.892)
    assert facts["new_owner"] == "edge1"
    assert got["pre-fault calls torn down with BYE"].measured == 100.0
    assert got["registrations lost"].measured == 0


def test_vip_counts_the_moves_after_restore():
    c = cluster()
    vrrp = c.settings.vrrp_instances[0]
    obs = load_jsonl(FIXTURES / "vip_kill_ok.jsonl")
    _, facts = vip.analyze(obs, vrrp, "edge1", thresholds_for(c.settings))
    assert facts["vip_moves_after_restore"] == 0
    # A frozen master that wakes up takes the VIP back: one move (a sample in which both
    # briefly hold it is not one).
    end = obs.vip[-1].t
    obs.vip += [
        VipSample(end + 0.1, ("edge1", "edge2")),
        VipSample(end + 0.2, ("edge1",)),
        VipSample(end + 0.3, ("edge1",)),
    ]
    _, facts = vip.analyze(obs, vrrp, "edge1", thresholds_for(c.settings))
    assert facts["vip_moves_after_restore"] == 1
    obs.marks.pop("restore")
    _, facts = vip.analyze(obs, vrrp, "edge1", thresholds_for(c.settings))
    assert facts["vip_moves_after_restore"] is None
