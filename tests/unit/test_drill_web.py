"""``drill web``: its verdicts on synthetic lookup streams, its limits from HAProxy's check
settings, and its refusals before anything is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterctl import web as web_tier
from clusterctl.cli import main
from clusterctl.drills import web
from clusterctl.drills.observe import CallRecord, LookupSample, Observations, load_jsonl
from clusterctl.drills.report.html import timeline_svg
from clusterctl.drills.run import DrillRun
from clusterctl.drills.thresholds import Limit

FAULT, RESTORE = 1005.0, 1012.0
LIMITS = web.web_limits("freeze", Limit(0, "0", "computed"))


def stream(out_after: dict[str, float], back_after: dict[str, float],
           failed_at: tuple[float, ...] = (), answers_after: float | None = None) -> Observations:
    """Lookups every 0.1 s on each feature server from 1000 to 1020; web1 is DOWN on host h
    from FAULT + out_after[h] until RESTORE + back_after[h]. fs1a also asks web1's health
    URL: it answers except from FAULT until FAULT + answers_after (default: the restore)."""
    obs = Observations()
    obs.mark("fault", FAULT)
    obs.mark("restore", RESTORE)
    obs.meta["traffic"] = True
    for host, out in out_after.items():
        for i in range(200):
            t = round(1000 + i * 0.1, 3)
            down = FAULT + out <= t < RESTORE + back_after[host]
            failed = any(abs(t - f) < 1e-6 for f in failed_at) and host == "fs1a"
            gone_until = RESTORE if answers_after is None else FAULT + answers_after
            target_ok = None if host != "fs1a" else not FAULT <= t < gone_until
            obs.lookups.append(LookupSample(
                host=host, t=t, ok=not failed, status=503 if failed else 200, ms=2.0,
                servers={"web1": "DOWN" if down else "UP", "web2": "UP"}, target_ok=target_ok))
    obs.calls = [CallRecord(call_id=str(i), start=1000 + i, status=200) for i in range(15)]
    return obs


def by_name(checks):
    return {c.name: c for c in checks}


def test_limits_follow_the_check_settings():
    inter = web_tier.CONFSVC_PROXY_CHECK_INTER_MS / 1000
    fast = web_tier.CONFSVC_PROXY_CHECK_FASTINTER_MS / 1000
    hang = (web_tier.CONFSVC_PROXY_CONNECT_TIMEOUT_MS
            + web_tier.CONFSVC_PROXY_CHECK_TIMEOUT_MS) / 1000
    fall, rise = web_tier.CONFSVC_PROXY_CHECK_FALL, web_tier.CONFSVC_PROXY_CHECK_RISE
    stop = web.web_limits("stop", Limit(0, "0", "computed"))
    # A refused connection fails a check at once; a silent node at each check's timeout.
    assert stop.out_s.value == pytest.approx(inter + (fall - 1) * fast + 0.5)
    assert LIMITS.out_s.value == pytest.approx(inter + (fall - 1) * fast + fall * hang + 0.5)
    assert stop.back_s.value == pytest.approx(inter + (rise - 1) * fast + 0.5)
    assert LIMITS.back_s.value == pytest.approx(inter + (rise - 1) * fast + hang + 0.5)
    assert "fall*T" in LIMITS.out_s.bound and "fall*T" not in stop.out_s.bound
    assert LIMITS.failed_lookups.value == 0


def test_a_clean_run_takes_the_worst_feature_server():
    checks, facts = web.analyze(stream({"fs1a": 1.8, "fs1b": 2.2}, {"fs1a": 1.0, "fs1b": 1.6}),
                                "web1", LIMITS)
    got = by_name(checks)
    assert got["HAProxy stops sending to it"].measured == pytest.approx(2.2, abs=0.05)
    assert "fs1a 1.80 s" in got["HAProxy stops sending to it"].note
    assert got["back in HAProxy after the restore"].measured == pytest.approx(1.6, abs=0.05)
    assert got["failed lookups"].measured == 0
    assert got["failed calls"].measured == 0
    assert all(c.passed for c in checks)
    assert facts["lookups"] == 400
    assert facts["mechanism"] == "HAProxy health checks"


def test_a_node_systemd_restarted_before_any_check_failed_is_back_by_itself():
    """kill: Apache is restarted within a second, no HAProxy takes it out; the figure is how
    long it was gone, and it is held to the same limit."""
    obs = stream({"fs1a": 99.0, "fs1b": 99.0}, {"fs1a": 0.0, "fs1b": 0.0}, answers_after=0.35)
    checks, facts = web.analyze(obs, "web1", LIMITS)
    got = by_name(checks)
    assert "HAProxy stops sending to it" not in got
    assert got["back by itself before HAProxy took it out"].measured == pytest.approx(0.4)
    assert got["back by itself before HAProxy took it out"].passed
    assert facts["mechanism"] == "none (back by itself)"


def test_a_failed_lookup_and_a_slow_detection_fail_the_run():
    checks, _ = web.analyze(
        stream({"fs1a": 1.0, "fs1b": 4.0}, {"fs1a": 1.0, "fs1b": 1.0}, failed_at=(1006.0,)),
        "web1", LIMITS)
    got = by_name(checks)
    assert got["failed lookups"].measured == 1 and not got["failed lookups"].passed
    assert "503" in got["failed lookups"].note
    assert not got["HAProxy stops sending to it"].passed


def test_a_feature_server_that_never_took_it_out_is_a_failure(tmp_path):
    obs = stream({"fs1a": 1.0, "fs1b": 99.0}, {"fs1a": 1.0, "fs1b": 0.0})
    # The stream survives the report's JSONL round trip unchanged.
    obs.dump_jsonl(tmp_path / "obs.jsonl")
    checks, _ = web.analyze(load_jsonl(tmp_path / "obs.jsonl"), "web1", LIMITS)
    got = by_name(checks)
    assert got["HAProxy stops sending to it"].measured is None
    assert "fs1b never" in got["HAProxy stops sending to it"].note
    assert not got["HAProxy stops sending to it"].passed


def test_the_timeline_shows_the_node_in_haproxy_and_when_it_went_out():
    obs = stream({"fs1a": 1.8, "fs1b": 2.2}, {"fs1a": 1.0, "fs1b": 1.6})
    checks, facts = web.analyze(obs, "web1", LIMITS)
    svg = timeline_svg(DrillRun(1, obs=obs, checks=checks, facts=facts))
    assert "web1: in HAProxy on 2/2" in svg
    assert "web1: in HAProxy on 1/2" in svg  # fs1a took it out before fs1b
    assert "web1: in HAProxy on 0/2" in svg
    assert ">out</text>" in svg


def test_a_run_with_nothing_observed_still_renders():
    assert "<svg" in timeline_svg(DrillRun(1, facts={"target": "web1"}))


LAB = "tests/fixtures/drills/inventory-lab"


def test_a_target_outside_the_web_group_is_refused():
    result = CliRunner().invoke(main, ["drill", "web", "-i", LAB, "--target", "db1"])
    assert result.exit_code == 2
    assert "host db1 is not in group web" in result.output


def test_feature_servers_that_are_stand_ins_are_refused(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    src = Path(LAB)
    for path in src.rglob("*.yml"):
        (inv / path.relative_to(src)).write_text(path.read_text())
    hosts = (inv / "hosts.yml").read_text().replace(
        "    probes:", "    web:\n      hosts:\n        web1: {ansible_host: 10.77.0.41}\n"
        "    probes:")
    (inv / "hosts.yml").write_text(hosts)
    result = CliRunner().invoke(main, ["drill", "web", "-i", str(inv), "--target", "web1"])
    assert result.exit_code == 2, result.output
    assert "SIPp stand-ins" in result.output


def test_back_by_itself_before_some_haproxies_took_it_out():
    # kill -9: systemd restarted Apache 1.2 s after the fault; fs1a had taken it out at 0.8 s,
    # fs1b never did.
    obs = stream({"fs1a": 0.8, "fs1b": 99.0}, {"fs1a": 0.0, "fs1b": 0.0}, answers_after=1.2)
    checks, facts = web.analyze(obs, "web1", LIMITS)
    got = by_name(checks)["back by itself before HAProxy took it out"]
    assert got.measured == pytest.approx(1.2, abs=0.05) and got.passed
    assert "fs1a 0.80 s" in got.note
    assert facts["mechanism"] == "back by itself before every HAProxy took it out"


def test_back_counts_from_the_nodes_first_answer_after_the_restore():
    # Apache answered its health URL 0.5 s after `systemctl start` returned.
    late = RESTORE - FAULT + 0.5
    obs = stream({"fs1a": 1.8, "fs1b": 2.2}, {"fs1a": 1.0, "fs1b": 1.6}, answers_after=late)
    got = by_name(web.analyze(obs, "web1", LIMITS)[0])["back in HAProxy after the restore"]
    assert got.measured == pytest.approx(1.1, abs=0.05)
    assert "0.50 s after the restore" in got.note
