"""clusterctl chaos without containers: options, the seeded schedule, the run's safety and
verdict, companions, reports and the CLI's refusals."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from test_drill_cli import FakeBackend

from clusterctl import faults
from clusterctl.cli import main
from clusterctl.drills import build, chaos
from clusterctl.drills.observe import CallRecord, Observations
from clusterctl.drills.report import chaos as chaos_report
from clusterctl.drills.run import Check, Drill
from clusterctl.drills.thresholds import Limit
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.validate import check_inventory

AVAILABLE = {"edge": None, "feature": None, "db": None, "web": "no web hosts",
             "storage": "no storage tier"}
TIERS = {
    "edge": chaos.Tier("edge", ("edge1", "edge2"), ("kill", "netcut")),
    "feature": chaos.Tier("feature", ("fs1a", "fs1b", "fs2a"), ("stop", "kill", "freeze")),
    "db": chaos.Tier("db", ("db1", "db2"), ("stop", "freeze")),
}


# --- options ---------------------------------------------------------------------------------


def test_options_default_to_every_available_tier():
    assert chaos.parse_options("300", "7", None, "1", AVAILABLE) == (
        300.0, 7, ("edge", "feature", "db"), 1)


@pytest.mark.parametrize(("duration", "seed", "tiers", "concurrent", "message"), [
    ("10", "1", None, "1", "--duration must be 60-86400 s, got 10"),
    ("90000", "1", None, "1", "--duration must be 60-86400 s, got 90000"),
    ("soon", "1", None, "1", "--duration must be a number of seconds, got 'soon'"),
    ("300", "1.5", None, "1", "--seed must be an integer, got '1.5'"),
    ("300", "1", "edge,dns", "1", "unknown tier 'dns' (tiers: edge, feature, db, web, storage)"),
    ("300", "1", "web", "1", "tier web: no web hosts"),
    ("300", "1", " , ", "1", "--tiers names no tier"),
    ("300", "1", "edge,db", "3", "--max-concurrent-faults must be 1-2 (one fault per tier at "
                                 "a time, 2 tier(s)), got 3"),
    ("300", "1", None, "0", "--max-concurrent-faults must be 1-3 (one fault per tier at a "
                            "time, 3 tier(s)), got 0"),
    ("300", "1", None, "two", "--max-concurrent-faults must be an integer, got 'two'"),
])
def test_bad_options_are_refused_with_one_line(duration, seed, tiers, concurrent, message):
    with pytest.raises(BadInput) as err:
        chaos.parse_options(duration, seed, tiers, concurrent, AVAILABLE)
    assert err.value.message == message
    assert err.value.exit_code == 2


def test_no_tier_available_names_every_reason():
    with pytest.raises(BadInput, match=r"edge: no pair; .*storage: none"):
        chaos.parse_options("300", "1", None, "1", {"edge": "no pair", "storage": "none"})


# --- the schedule ----------------------------------------------------------------------------


def _first(seed, count=40, concurrent=1, tiers=None):
    return list(itertools.islice(chaos.schedule(seed, tiers or TIERS, concurrent), count))


def test_same_seed_same_schedule_and_another_seed_another():
    assert _first(11) == _first(11)
    assert _first(11) != _first(12)
    # The order tiers are given in does not matter: only names, hosts and kinds do.
    reordered = dict(reversed(list(TIERS.items())))
    assert _first(11, tiers=reordered) == _first(11)


def test_schedule_covers_every_tier_with_its_own_targets_and_kinds():
    faults_ = _first(5, count=200)
    assert [f.number for f in faults_] == list(range(1, 201))
    assert {f.tier for f in faults_} == set(TIERS)
    for fault in faults_:
        tier = TIERS[fault.tier]
        assert fault.kind in tier.faults
        assert fault.target == (chaos.VIP_HOLDER if fault.tier == "edge" else fault.target)
        if fault.tier != "edge":
            assert fault.target in tier.hosts
        assert fault.companions == ()


def test_companions_stay_within_the_limit_and_one_per_tier():
    faults_ = _first(3, count=300, concurrent=3)
    assert {len(f.companions) for f in faults_} == {0, 1, 2}
    for fault in faults_:
        tiers = [fault.tier, *(c.tier for c in fault.companions)]
        assert len(tiers) == len(set(tiers))
        for companion in fault.companions:
            assert companion.host in TIERS[companion.tier].hosts
            assert companion.kind in TIERS[companion.tier].faults


def test_describe_names_the_companions():
    fault = chaos.ScheduledFault(3, "db", "db1", "freeze",
                                 (chaos.Companion("edge", "edge2", "kill"),))
    assert fault.describe() == "#3 db: freeze db1 (+ edge: kill edge2)"


def test_dry_run_lists_what_could_start_at_the_quickest_pace():
    listed = chaos.dry_run(chaos.schedule(1, TIERS), 300)
    assert len(listed) == 300 // chaos.QUICKEST_FAULT_S
    assert listed == _first(1, count=len(listed))


# --- a run -----------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FaultDrill(Drill):
    """A drill whose run takes ``took`` s of the fake clock, makes ``calls`` calls of which
    ``failed`` fail and registers ``aors``."""

    name = "scripted"
    baseline_s = 0.0

    def __init__(self, clock, log, *, took=20.0, calls=10, failed=0, aors=("u@a", "u@b"),
                 effect_error=None, restore_error=None):
        self.clock, self.log = clock, log
        self.took, self.calls, self.failed = took, calls, failed
        self.probes = SimpleNamespace(registered=tuple(aors))
        self.effect_error, self.restore_error = effect_error, restore_error

    def plan(self):
        return []

    def steady_state(self):
        return []

    def start_observing(self, obs):
        pass

    def stop_observing(self, obs):
        start = self.clock()
        obs.calls += [CallRecord(f"c{i}", start, 503 if i < self.failed else 200)
                      for i in range(self.calls)]

    def inject(self, obs):
        self.log.append("inject")
        obs.mark("fault", self.clock())

    def await_effect(self, obs):
        self.clock.sleep(self.took)
        if self.effect_error:
            raise self.effect_error

    def restore(self, obs):
        self.log.append("restore")
        if self.restore_error:
            raise self.restore_error
        obs.mark("restore", self.clock())

    def await_recovery(self, obs):
        pass

    def analyze(self, obs):
        return [Check("took", self.took, Limit(30, "30", "computed"), "s")], {}


def _chaos(clock, drills, health=None, served=None, bound=30.0):
    built = []

    def build(fault):
        built.append(fault)
        return drills(fault)

    runner = chaos.Chaos(build, health or (lambda: []), served or len,
                         clock=clock, sleep=clock.sleep, heal_bound_s=bound)
    return runner, built


def _result(duration=100.0, clock=None):
    return chaos.ChaosRun(4, duration, tuple(TIERS), 1, (clock or Clock())())


def test_run_goes_on_until_the_duration_is_spent_and_passes():
    clock, log = Clock(), []
    runner, built = _chaos(clock, lambda f: FaultDrill(clock, log))
    result = runner.run(chaos.schedule(4, TIERS), _result(100.0, clock))
    # 20 s per fault: the ones starting at 0, 20, 40, 60 and 80 s run, no later one.
    assert [f.fault.number for f in result.faults] == [1, 2, 3, 4, 5]
    assert built == _first(4, count=5)
    assert log == ["inject", "restore"] * 5
    assert result.calls == 50 and result.failed_calls == 0
    assert result.registrations_lost == 0
    assert all(f.healed_s == 0.0 for f in result.faults)
    assert result.verdict == "pass", result.problems


def test_each_fault_reports_a_line_as_it_ends():
    clock, lines = Clock(), []
    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, [], calls=60, failed=1))
    runner.say = lines.append
    result = runner.run(chaos.schedule(4, TIERS), _result(40.0, clock))
    assert lines == [f"{f.fault.describe()}: 60 calls, 1 failed, healed after 0.0 s"
                     for f in result.faults]


def test_unhealthy_cluster_at_the_start_touches_nothing():
    clock = Clock()
    runner, built = _chaos(clock, lambda f: FaultDrill(clock, []), health=lambda: ["no VIP"])
    with pytest.raises(chaos.SteadyStateBroken, match="nothing was touched: no VIP"):
        runner.run(chaos.schedule(4, TIERS), _result(clock=clock))
    assert built == []


def test_fault_that_does_not_heal_stops_the_run_with_its_last_problems():
    clock, answers = Clock(), iter([[]])
    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, []),
                       health=lambda: next(answers, ["db2: not synced"]), bound=30.0)
    result = runner.run(chaos.schedule(4, TIERS), _result(1000.0, clock))
    assert len(result.faults) == 1
    entry = result.faults[0]
    assert entry.healed_s is None and entry.heal_problems == ["db2: not synced"]
    assert result.stopped == f"{entry.fault.describe()} did not heal"
    assert result.verdict == "fail"
    assert any("not healthy 30 s after the restore: db2: not synced" in p
               for p in result.problems)


def test_heal_time_counts_from_the_restore():
    clock = Clock()
    health = iter([[], ["edge2 down"], ["edge2 down"], []])
    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, []), health=lambda: next(health, []))
    result = runner.run(chaos.schedule(4, TIERS), _result(60.0, clock))
    assert result.faults[0].healed_s == 2 * chaos.HEAL_POLL_S


def test_failed_calls_above_the_ratio_and_lost_registrations_fail_the_run():
    clock = Clock()
    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, [], calls=500, failed=1),
                       served=lambda aors: len(aors) - 1)
    result = runner.run(chaos.schedule(4, TIERS), _result(100.0, clock))
    assert result.failed_call_ratio == pytest.approx(1 / 500)
    assert result.registrations_lost == 5
    assert "failed-call ratio 0.20 % (5 of 2500) above 0.1 %" in result.problems
    assert result.verdict == "fail"


def test_registrations_that_cannot_be_read_fail_the_fault():
    clock = Clock()

    def served(aors):
        raise ClusterctlError("VIP 10.0.0.10 has 0 owners")

    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, []), served=served)
    result = runner.run(chaos.schedule(4, TIERS), _result(60.0, clock))
    assert result.faults[0].registrations_lost is None
    assert result.faults[0].problems == ["registrations after the fault could not be read"]


def test_ctrl_c_restores_and_ends_the_run_aborted():
    clock, log = Clock(), []
    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, log, effect_error=KeyboardInterrupt()))
    result = runner.run(chaos.schedule(4, TIERS), _result(1000.0, clock))
    assert log == ["inject", "restore"]
    assert result.verdict == "aborted" and len(result.faults) == 1


def test_failed_restore_stops_the_run():
    clock = Clock()
    runner, _ = _chaos(clock, lambda f: FaultDrill(
        clock, [], restore_error=ClusterctlError("ssh: timed out")))
    result = runner.run(chaos.schedule(4, TIERS), _result(1000.0, clock))
    assert len(result.faults) == 1
    assert "restore failed" in result.stopped
    assert result.verdict == "fail"


# --- companions ------------------------------------------------------------------------------


def test_companions_go_in_after_the_fault_and_out_before_its_restore():
    clock, log = Clock(), []
    backend = FakeBackend()
    inner = FaultDrill(clock, log)
    drill = chaos.WithCompanions(inner, backend, (chaos.Companion("db", "db1", "freeze"),
                                                  chaos.Companion("edge", "edge2", "kill")))
    obs = Observations()
    drill.inject(obs)
    drill.restore(obs)
    assert [c for c in backend.calls if c[0] in ("inject", "restore")] == [
        ("inject", "db1", "freeze"), ("inject", "edge2", "kill"),
        ("restore", "edge2", "kill"), ("restore", "db1", "freeze")]
    assert log == ["inject", "restore"]
    assert "companion freeze db1" in obs.marks


def test_a_companion_that_cannot_be_restored_still_restores_the_fault_and_says_so():
    clock, log = Clock(), []
    backend = FakeBackend()

    def restore(host, kind):
        raise ClusterctlError("thaw failed")

    backend.restore = restore
    drill = chaos.WithCompanions(FaultDrill(clock, log), backend,
                                 (chaos.Companion("db", "db1", "freeze"),))
    obs = Observations()
    drill.inject(obs)
    with pytest.raises(ClusterctlError, match="companion restore failed: db1: thaw failed"):
        drill.restore(obs)
    assert log == ["inject", "restore"]


# --- reports ---------------------------------------------------------------------------------


def _finished(tmp_path, failed=0):
    clock = Clock()
    runner, _ = _chaos(clock, lambda f: FaultDrill(clock, [], failed=failed))
    result = runner.run(chaos.schedule(4, TIERS), _result(60.0, clock))
    return result, chaos_report.write_all(result, "lab", tmp_path)


def test_reports_are_written_with_every_fault(tmp_path):
    result, where = _finished(tmp_path)
    names = sorted(p.name for p in where.iterdir())
    assert names == ["fault-1.jsonl", "fault-2.jsonl", "fault-3.jsonl", "junit.xml",
                     "report.html", "report.json"]
    data = json.loads((where / "report.json").read_text())
    assert data["verdict"] == "pass" and data["seed"] == 4
    assert data["totals"]["faults"] == 3 and data["totals"]["healed"] == 3
    assert [f["fault"] for f in data["faults"]] == [f.fault.kind for f in result.faults]
    html = (where / "report.html").read_text()
    assert "seed 4" in html and html.count("<svg") == 4
    assert 'failures="0"' in (where / "junit.xml").read_text()


def test_junit_fails_the_ratio_target_and_names_the_calls(tmp_path):
    _, where = _finished(tmp_path, failed=1)
    junit = (where / "junit.xml").read_text()
    assert "3 of 30 calls failed (10.00 %)" in junit
    assert 'failures="1"' in junit


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def backend(monkeypatch):
    fake = FakeBackend()
    monkeypatch.setattr(faults, "drill_backend", lambda cluster: fake)
    return fake


def invoke(*args):
    return CliRunner().invoke(main, ["chaos", "-i", "inventory/example", *args])


def test_dry_run_prints_the_seeded_schedule_and_touches_nothing(backend):
    first = invoke("--dry-run", "--seed", "9", "--duration", "60")
    assert first.exit_code == 0, first.output
    lines = [ln for ln in first.output.splitlines() if ln.startswith("would run")]
    assert len(lines) == 4
    assert "tier db left out: drill db needs db_monitor_password" in first.output
    assert invoke("--dry-run", "--seed", "9", "--duration", "60").output == first.output
    assert not [c for c in backend.calls if c[0] in ("inject", "restore", "run")]


def test_bad_seed_is_one_line_and_exit_2(backend):
    res = invoke("--seed", "nine")
    assert res.exit_code == 2
    assert res.output == "error: --seed must be an integer, got 'nine'\n"


def test_tier_the_inventory_lacks_is_refused(backend):
    res = invoke("--tiers", "feature,storage")
    assert res.exit_code == 2
    assert res.output.startswith("error: tier storage: this version of clusterctl deploys no")


def test_production_inventory_asks_first_and_no_touches_nothing(backend):
    res = CliRunner().invoke(main, ["chaos", "-i", "inventory/example", "--seed", "1"],
                             input="n\n")
    assert res.exit_code == 1
    assert "inject real faults into cluster" in res.output
    assert backend.calls == []


# --- the tiers an inventory offers -----------------------------------------------------------


def test_tiers_name_what_the_inventory_lacks():
    got = build.chaos_tiers(check_inventory("inventory/example", None))
    assert got["edge"] is None and got["feature"] is None and got["web"] is None
    assert got["db"] == ("drill db needs db_monitor_password (--vault-password-file when "
                         "vaulted)")
    assert got["storage"].startswith("this version of clusterctl deploys no storage tier")


def test_a_tier_gets_only_the_kinds_the_backend_can_do(monkeypatch):
    fake = FakeBackend(refuse={"freeze": "freeze is not configured"})
    monkeypatch.setattr(faults, "drill_backend", lambda cluster: fake)
    cluster = check_inventory("inventory/example", None)
    _, tiers = build.chaos_runner(cluster, ("edge", "feature"))
    assert tiers["edge"] == chaos.Tier("edge", ("edge1", "edge2"),
                                       ("kill", "stop-keepalived", "netcut"))
    assert tiers["feature"].faults == ("stop", "kill", "netcut")
    fake.refuse = dict.fromkeys(("stop", "kill", "freeze", "netcut", "stop-keepalived"), "no")
    with pytest.raises(BadInput, match="tier edge: no fault kind can be done to all of its"):
        build.chaos_runner(cluster, ("edge",))
