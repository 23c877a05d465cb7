"""``clusterctl drill``: refusals before anything is touched, --dry-run, confirmation, a full
run with the live layers replaced by a recorded stream."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterctl import faults
from clusterctl.cli import main
from clusterctl.drills import build, failover
from clusterctl.drills.observe import DestSample, load_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "drills"
LAB = str(FIXTURES / "inventory-lab")
PROD = str(FIXTURES / "inventory-prod")


class FakeBackend:
    """Records every call; refuses the kinds in ``refuse``."""

    def __init__(self, refuse=None):
        self.refuse = refuse or {}
        self.calls = []

    def refusal(self, host, kind):
        return self.refuse.get(kind)

    def inject(self, host, kind):
        self.calls.append(("inject", host, kind))
        return 1003.0

    def restore(self, host, kind):
        self.calls.append(("restore", host, kind))
        return 1010.0

    def describe(self, host, kind):
        return f"docker kill --signal KILL {host}-standin"

    def describe_restore(self, host, kind):
        return f"systemctl start standin on {host}"

    def run(self, host, argv):
        self.calls.append(("run", host, argv))
        return ""


@pytest.fixture
def backend(monkeypatch):
    fake = FakeBackend()
    monkeypatch.setattr(faults, "drill_backend", lambda cluster: fake)
    return fake


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def test_unknown_host_is_refused(backend):
    result = invoke("drill", "failover", "-i", LAB, "--target", "fs9")
    assert result.exit_code == 2
    assert "unknown host 'fs9' (hosts in feature_servers: fs1a, fs1b)" in result.output
    assert backend.calls == []


def test_host_outside_the_group_is_refused(backend):
    result = invoke("drill", "failover", "-i", LAB, "--target", "edge1")
    assert result.exit_code == 2
    assert "host edge1 is not in group feature_servers" in result.output
    assert backend.calls == []


def test_fault_the_backend_cannot_do_is_refused(monkeypatch):
    fake = FakeBackend(refuse={"freeze": "no fault_commands.freeze configured for production"})
    monkeypatch.setattr(faults, "drill_backend", lambda cluster: fake)
    result = invoke(
        "drill", "failover", "-i", PROD, "--target", "fs1a", "--fault", "freeze", "--yes"
    )
    assert result.exit_code == 2
    assert "fault freeze on fs1a: no fault_commands.freeze configured" in result.output
    result = invoke("drill", "vip", "-i", PROD, "--fault", "freeze", "--yes")
    assert result.exit_code == 2
    assert "fault freeze on edge1" in result.output
    assert fake.calls == []


def test_unknown_fault_kind_is_refused_by_the_parser(backend):
    result = invoke("drill", "vip", "-i", LAB, "--fault", "explode")
    assert result.exit_code == 2
    assert "'explode' is not one of" in result.output


def test_dry_run_prints_per_host_lines_and_touches_nothing(backend):
    result = invoke(
        "drill", "failover", "-i", PROD, "--target", "fs1a", "--fault", "kill", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "[fs1a] would kill: docker kill --signal KILL fs1a-standin" in lines
    assert "[fs1a] would restore: systemctl start standin on fs1a" in lines
    assert any(line.startswith("[probe1] would send background calls") for line in lines)
    assert any(line.startswith("[edge1, edge2] would poll the dispatcher") for line in lines)
    assert backend.calls == []


def test_vip_dry_run(backend):
    result = invoke("drill", "vip", "-i", LAB, "--fault", "stop-keepalived", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would stop-keepalived" in result.output and "10.77.0.10" in result.output
    assert backend.calls == []


def test_non_lab_inventory_asks_and_no_means_nothing_happens(backend):
    result = invoke("drill", "failover", "-i", PROD, "--target", "fs1a", input="n\n")
    assert "not a lab inventory" in result.output
    assert result.exit_code == 1
    assert backend.calls == []


class ReplayProbes:
    """Stands in for live.Probes: the observers "see" a recorded stream."""

    poll_interval = 0.1
    traffic_host = "probe1"

    def __init__(self, faults, stream, steady_problem=None):
        self.faults = faults
        self.stream = load_jsonl(FIXTURES / stream)
        healthy = DestSample(0, 1, "sip:10.77.0.21:5060", "fs1a", "active", "AP", True)
        self.last_sets = [healthy]
        if steady_problem:
            self.last_sets.append(
                DestSample(0, 1, "sip:10.77.0.22:5060", "fs1b", "inactive", "IP", False)
            )

    def clock(self):
        # The observation clock when the fault is issued: the stream's fault instant.
        return self.stream.marks["fault"]

    def describe_fault(self, host, kind):
        return self.faults.describe(host, kind)

    def describe_restore(self, host, kind):
        return self.faults.describe_restore(host, kind)

    def edge_problems(self):
        return []

    def start(self, obs, vip=None, dispatcher=True):
        obs.dest.extend(self.stream.dest)

    def stop(self, obs):
        obs.calls.extend(self.stream.calls)

    def wait_answers(self, target, timeout):
        return 1010.05


def test_full_run_writes_reports_and_prints_the_path(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERCTL_RUNS", str(tmp_path))
    monkeypatch.setattr(
        build,
        "build_probes",
        lambda cluster, faults, *scenario: ReplayProbes(
            faults, "failover_traffic_kill_opensips.jsonl"
        ),
    )
    monkeypatch.setattr(failover, "WINDOW_AFTER_DETECTION_S", 0)
    monkeypatch.setattr(failover.FailoverDrill, "baseline_s", 0)
    result = invoke("drill", "failover", "-i", LAB, "--target", "fs1a", "--format", "json")
    assert result.exit_code == 0, result.output
    assert backend.calls == [("inject", "fs1a", "kill"), ("restore", "fs1a", "kill")]
    where = Path(result.output.strip().splitlines()[-1].removeprefix("reports: "))
    assert where.parent == tmp_path
    doc = json.loads((where / "report.json").read_text())
    assert doc["verdict"] == "pass" and doc["params"]["target"] == "fs1a"
    assert ET.parse(where / "junit.xml").getroot().find("testsuite").get("failures") == "0"


def test_steady_state_broken_is_refused_with_the_reason(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERCTL_RUNS", str(tmp_path))
    monkeypatch.setattr(
        build,
        "build_probes",
        lambda cluster, faults, *scenario: ReplayProbes(
            faults, "failover_traffic_kill_opensips.jsonl", steady_problem=True
        ),
    )
    result = invoke("drill", "failover", "-i", LAB, "--target", "fs1a")
    assert result.exit_code == 1
    assert "steady state does not hold, nothing was touched" in result.output
    assert "sip:10.77.0.22:5060 (fs1b) is not selectable (state IP)" in result.output
    assert backend.calls == []
    assert list(tmp_path.iterdir()) == []


def test_failed_run_on_a_production_inventory_with_yes(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERCTL_RUNS", str(tmp_path))
    monkeypatch.setattr(
        build,
        "build_probes",
        lambda cluster, faults, *scenario: ReplayProbes(faults, "failover_flapping_fail.jsonl"),
    )
    monkeypatch.setattr(failover, "WINDOW_AFTER_DETECTION_S", 0)
    monkeypatch.setattr(failover.FailoverDrill, "baseline_s", 0)
    monkeypatch.setattr(failover.FailoverDrill, "await_recovery", lambda self, obs: None)
    result = invoke("drill", "failover", "-i", PROD, "--target", "fs1a", "--yes")
    assert result.exit_code == 1
    assert "not a lab inventory" not in result.output  # --yes: no question
    assert "error: drill failover failed; reports: " in result.output
    assert "state flaps" in result.output and "FAIL" in result.output
    assert backend.calls == [("inject", "fs1a", "kill"), ("restore", "fs1a", "kill")]
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "report.json").read_text())["verdict"] == "fail"


def test_ctrl_c_restores_writes_reports_and_exits_130(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERCTL_RUNS", str(tmp_path))
    monkeypatch.setattr(
        build,
        "build_probes",
        lambda cluster, faults, *scenario: ReplayProbes(
            faults, "failover_traffic_kill_opensips.jsonl"
        ),
    )
    monkeypatch.setattr(failover.FailoverDrill, "baseline_s", 0)

    def interrupted(self, obs):
        raise KeyboardInterrupt

    monkeypatch.setattr(failover.FailoverDrill, "await_effect", interrupted)
    result = invoke("drill", "failover", "-i", LAB, "--target", "fs1a", "--format", "junit")
    assert result.exit_code == 130
    assert "drill aborted (Ctrl-C); reports: " in result.output
    assert backend.calls == [("inject", "fs1a", "kill"), ("restore", "fs1a", "kill")]
    (run_dir,) = tmp_path.iterdir()
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert any(e.get("message") == "aborted (Ctrl-C)" for e in root.iter("error"))
