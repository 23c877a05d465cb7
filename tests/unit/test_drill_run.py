"""A drill run's safety: refuse a broken steady state, always restore, report restore failures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from test_drill_analysis import cluster

from clusterctl.drills import failover, vip
from clusterctl.drills.observe import Observations
from clusterctl.drills.run import Check, Drill, SteadyStateBroken, run_drill, run_once
from clusterctl.drills.thresholds import Limit, thresholds_for


class Scripted(Drill):
    name = "scripted"
    baseline_s = 0.0

    def __init__(
        self,
        steady=(),
        inject_error=None,
        effect_error=None,
        restore_error=None,
        steady_after=(),
        measured=1.0,
    ):
        self.log: list[str] = []
        self.steady = list(steady)
        self.inject_error = inject_error
        self.effect_error = effect_error
        self.restore_error = restore_error
        self.after = list(steady_after)
        self.measured = measured
        self.restored = False

    def plan(self):
        return [("h", "do it")]

    def steady_state(self):
        self.log.append("steady")
        return self.after if self.restored else self.steady

    def start_observing(self, obs):
        self.log.append("start")

    def stop_observing(self, obs):
        self.log.append("stop")

    def inject(self, obs):
        self.log.append("inject")
        if self.inject_error:
            raise self.inject_error
        obs.mark("fault", 1.0)

    def await_effect(self, obs):
        self.log.append("effect")
        if self.effect_error:
            raise self.effect_error

    def restore(self, obs):
        self.log.append("restore")
        self.restored = True
        if self.restore_error:
            raise self.restore_error

    def await_recovery(self, obs):
        self.log.append("recovery")

    def analyze(self, obs: Observations):
        return [Check("x", self.measured, Limit(2.0, "2", "computed"), "s")], {}


def test_passing_run_goes_through_every_phase_in_order():
    drill = Scripted()
    result = run_once(drill, sleep=lambda s: None)
    assert drill.log == [
        "steady",
        "start",
        "inject",
        "effect",
        "restore",
        "recovery",
        "stop",
        "steady",
    ]
    assert result.verdict == "pass"


def test_broken_steady_state_touches_nothing_and_says_what():
    drill = Scripted(steady=["destination sip:10.0.0.21 is IP"])
    expected = r"nothing was touched: destination sip:10\.0\.0\.21"
    with pytest.raises(SteadyStateBroken, match=expected):
        run_once(drill, sleep=lambda s: None)
    assert drill.log == ["steady"]


def test_ctrl_c_during_observation_still_restores():
    drill = Scripted(effect_error=KeyboardInterrupt())
    result = run_once(drill, sleep=lambda s: None)
    assert "restore" in drill.log and "stop" in drill.log
    assert "recovery" not in drill.log
    assert result.verdict == "aborted"


def test_exception_during_injection_still_restores_and_fails():
    drill = Scripted(inject_error=RuntimeError("docker exec failed"))
    result = run_once(drill, sleep=lambda s: None)
    assert drill.log.index("restore") > drill.log.index("inject")
    assert result.verdict == "fail"
    assert "docker exec failed" in (result.error or "")


def test_a_run_broken_before_its_fault_reports_the_error_without_analysing():
    """The drills' analyses start from the fault mark; a run that never got there (a probe
    host that did not answer during the baseline) is a failed run naming why, not a crash."""

    class NeedsFault(Scripted):
        def start_observing(self, obs):
            raise OSError("probe1: Timeout opening channel.")

        def analyze(self, obs):
            return super().analyze(obs) if obs.marks["fault"] else ([], {})

    drill = NeedsFault()
    result = run_once(drill, sleep=lambda s: None)
    assert result.verdict == "fail" and result.checks == []
    assert "Timeout opening channel" in (result.error or "")
    assert "inject" not in drill.log and "restore" not in drill.log


def test_failed_restore_is_reported_and_stops_further_runs():
    drill = Scripted(restore_error=RuntimeError("systemctl start freeswitch: exit 1"))
    results = run_drill(drill, runs=3, sleep=lambda s: None)
    assert len(results) == 1
    assert results[0].restore_error == "RuntimeError: systemctl start freeswitch: exit 1"
    assert results[0].verdict == "fail"
    assert any(p.name == "restore" and not p.ok for p in results[0].phases)


def test_ctrl_c_during_restore_is_reported():
    drill = Scripted(restore_error=KeyboardInterrupt())
    result = run_once(drill, sleep=lambda s: None)
    assert result.verdict == "aborted"
    assert "restore the host by hand" in (result.restore_error or "")


def test_steady_state_broken_after_restore_fails_the_run():
    drill = Scripted(steady_after=["fs1a still IP"])
    result = run_once(drill, sleep=lambda s: None)
    assert result.verdict == "fail"
    assert result.steady_after == ["fs1a still IP"]


def test_measured_over_limit_fails_and_unmeasured_never_passes():
    assert run_once(Scripted(measured=2.5), sleep=lambda s: None).verdict == "fail"
    assert run_once(Scripted(measured=None), sleep=lambda s: None).verdict == "fail"


def test_several_runs_and_a_later_broken_steady_state():
    drill = Scripted()
    results = run_drill(drill, runs=3, sleep=lambda s: None)
    assert [r.verdict for r in results] == ["pass"] * 3

    class BreaksLater(Scripted):
        def steady_state(self):
            return ["VIP held by 2 nodes"] if self.log.count("inject") else []

    results = run_drill(BreaksLater(), runs=3, sleep=lambda s: None)
    assert [r.verdict for r in results] == ["fail", "fail"]
    assert "VIP held by 2 nodes" in (results[1].error or "")


def test_faults_are_measured_from_when_they_took_effect_issue_time_kept():
    c = cluster()

    class SlowStop:
        def inject(self, host, kind):
            return 1005.0  # `systemctl stop` returned 5 s after it was issued

    probes = SimpleNamespace(clock=lambda: 1000.0, faults=SlowStop())
    obs = Observations()
    failover.FailoverDrill(c, "fs1a", "stop", probes, thresholds_for(c.settings)).inject(obs)
    assert obs.marks == {"fault": 1005.0, "fault_issued": 1000.0}
    drill = vip.VipDrill(c, "stop-keepalived", probes, thresholds_for(c.settings), lambda h, a: 0)
    drill.owner = "edge1"
    obs = Observations()
    drill.inject(obs)
    assert obs.marks == {"fault": 1005.0, "fault_issued": 1000.0}
