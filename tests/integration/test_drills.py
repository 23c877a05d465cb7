"""Every drill against the deployed lab, once per fault kind (issues 6, 13 and 15).

Each drill runs as a user runs it (``clusterctl drill ... -i inventory/lab``, a fresh
process) with its background calls from the probe host, and must pass: the verdict in
report.json, and every report file in the run directory the CLI printed. The figures each run
measured are printed and kept in the session's lab figures.

``CLUSTERCTL_DRILLS_ON_RUNNING_LAB=1`` runs them on the lab that already runs instead of the
session's freshly deployed one.

Bounded: every drill process gets DRILL_TIMEOUT_S; the whole file stops starting drills once
FILE_BUDGET_S is spent (the remaining ones fail, naming the budget), so it stays under
fifteen minutes on a 2-core machine. A drill always restores its fault, also when it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LAB_FIGURES, LAB_INVENTORY

from clusterctl.validate import check_inventory
from clusterctl.web import WEB_GROUP

pytestmark = [pytest.mark.lab, pytest.mark.drills]

FAILOVER_FAULTS = ("stop", "kill", "freeze", "netcut")
VIP_FAULTS = ("kill", "stop-keepalived", "freeze", "netcut")
WEB_FAULTS = ("stop", "kill", "freeze", "netcut")
DB_FAULTS = ("stop", "kill", "freeze", "netcut")
TARGET = "fs1a"
WEB_TARGET = "web1"
# The first database node: the one every client writes to while it is up.
DB_TARGET = "db1"
# Measured on the lab (2 cores): a drill with one run takes 14-25 s (process start included);
# drill db with a silent node about 35 s (it holds the fault past the edge's write-back).
DRILL_TIMEOUT_S = 120
FILE_BUDGET_S = 900
REPORT_FILES = ("report.json", "junit.xml", "report.html", "run-1.jsonl")

_started: list[float] = []


@pytest.fixture(scope="module")
def lab_inventory(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The session's deployed lab, or with CLUSTERCTL_DRILLS_ON_RUNNING_LAB=1 the lab that
    already runs (inventory/lab as it is: no lab up/down, no deploy). The file's time
    budget starts with its first drill."""
    if os.environ.get("CLUSTERCTL_DRILLS_ON_RUNNING_LAB") == "1":
        inventory = LAB_INVENTORY
        assert (inventory / "hosts.yml").is_file(), f"no running lab: {inventory} is missing"
    else:
        inventory = request.getfixturevalue("deployed_lab")
    _started.append(time.monotonic())
    yield inventory


def _drill(inventory: Path, runs_dir: Path, *args: str) -> tuple[dict[str, Any], Path]:
    """Run one drill; (report.json, run directory). Fails with the CLI's output if it did
    not pass."""
    spent = time.monotonic() - _started[0]
    if spent > FILE_BUDGET_S:
        pytest.fail(f"drill file budget of {FILE_BUDGET_S} s spent ({spent:.0f} s)")
    start = time.monotonic()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "clusterctl",
            "drill",
            *args,
            "-i",
            str(inventory),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=DRILL_TIMEOUT_S,
        check=False,
        env={**os.environ, "CLUSTERCTL_RUNS": str(runs_dir)},
    )
    elapsed = time.monotonic() - start
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("reports: ")]
    assert lines, f"no report directory printed (rc {res.returncode}):\n{res.stderr[-3000:]}"
    where = Path(lines[-1].removeprefix("reports: "))
    missing = [name for name in REPORT_FILES if not (where / name).is_file()]
    assert not missing, f"{where}: missing {missing}"
    report = json.loads((where / "report.json").read_text())
    figures = {
        check["name"]: check["measured"] for run in report["runs"] for check in run["checks"]
    }
    print(f"drill {' '.join(args)}: {elapsed:.1f} s, {report['verdict']}: {figures}")
    LAB_FIGURES[f"drill {' '.join(args)} s"] = round(elapsed, 1)
    assert res.returncode == 0 and report["verdict"] == "pass", (
        f"drill {' '.join(args)} did not pass (rc {res.returncode}); reports in {where}\n"
        f"{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
    )
    assert json.loads(res.stdout)["verdict"] == "pass"
    return report, where


@pytest.mark.parametrize("fault", FAILOVER_FAULTS)
def test_failover_drill_passes(lab_inventory: Path, tmp_path: Path, fault: str) -> None:
    report, where = _drill(
        lab_inventory, tmp_path, "failover", "--target", TARGET, "--fault", fault
    )
    (run,) = report["runs"]
    facts = run["facts"]
    assert facts["target"] == TARGET
    # Calls were placed and answered by the shard's servers before, during and after.
    answered = facts["answered_by"]
    assert answered["before"].get(TARGET, 0) > 0, answered
    if facts["mechanism"] == "none (back by itself)":
        # kill -9: systemd restarted the stand-in (Restart=on-failure, 1 s) before any bound
        # ran out; the calls of the outage were answered by it once back.
        assert fault == "kill", facts
        assert answered["during"].get(TARGET, 0) > 0, answered
    else:
        assert facts["mechanism"] in ("failed call", "probing")
        assert answered["during"].get("fs1b", 0) > 0, answered  # the secondary took over
    assert (where / "report.html").read_text().count("<svg") >= 1


def test_failover_drill_idle_detection_by_probing(lab_inventory: Path, tmp_path: Path) -> None:
    """No calls: only the edge's OPTIONS probing can exclude the stopped server."""
    report, _ = _drill(
        lab_inventory, tmp_path, "failover", "--target", TARGET, "--fault", "stop", "--no-traffic"
    )
    (run,) = report["runs"]
    assert run["facts"]["mechanism"] == "probing"
    checks = {c["name"]: c for c in run["checks"]}
    assert checks["detection (idle)"]["measured"] is not None


@pytest.mark.parametrize("fault", VIP_FAULTS)
def test_vip_drill_passes(lab_inventory: Path, tmp_path: Path, fault: str) -> None:
    report, _ = _drill(lab_inventory, tmp_path, "vip", "--fault", fault)
    (run,) = report["runs"]
    facts = run["facts"]
    assert facts["new_owner"] and facts["new_owner"] != facts["old_owner"]
    checks = {c["name"]: c for c in run["checks"]}
    # The drill's test users registered before the fault, all still there after it.
    assert "before 0," not in checks["registrations lost"]["note"]


@pytest.mark.parametrize("fault", WEB_FAULTS)
def test_web_drill_passes(lab_inventory: Path, tmp_path: Path, fault: str) -> None:
    cluster = check_inventory(str(lab_inventory), None)
    if not cluster.members(WEB_GROUP) or cluster.feature_server_unit != "freeswitch":
        pytest.skip("the lab has no web tier or runs SIPp stand-ins instead of FreeSWITCH")
    report, _ = _drill(lab_inventory, tmp_path, "web", "--target", WEB_TARGET, "--fault", fault)
    (run,) = report["runs"]
    facts = run["facts"]
    assert facts["target"] == WEB_TARGET
    checks = {c["name"]: c for c in run["checks"]}
    # Every FreeSWITCH feature server looked up through its HAProxy all along, none failed.
    assert facts["lookups"] > 0
    assert checks["failed lookups"]["measured"] == 0, checks["failed lookups"]
    if facts["mechanism"] != "HAProxy health checks":
        # kill -9: systemd restarted Apache before any HAProxy could take it out.
        assert fault == "kill", facts
        assert checks["back by itself before HAProxy took it out"]["measured"] is not None
    else:
        assert facts["mechanism"] == "HAProxy health checks", facts
        assert checks["HAProxy stops sending to it"]["measured"] is not None


@pytest.mark.parametrize("fault", DB_FAULTS)
def test_db_drill_passes(lab_inventory: Path, tmp_path: Path, fault: str) -> None:
    report, _ = _drill(lab_inventory, tmp_path, "db", "--target", DB_TARGET, "--fault", fault)
    (run,) = report["runs"]
    facts = run["facts"]
    checks = {c["name"]: c for c in run["checks"]}
    # The writer wrote through the target before the fault and through its peer during it.
    assert DB_TARGET in facts["written_via"] and len(facts["written_via"]) >= 2, facts
    assert checks["acknowledged writes lost"]["measured"] == 0, checks["acknowledged writes lost"]
    assert checks["failed REGISTERs"]["measured"] == 0, checks["failed REGISTERs"]
