"""A short chaos run on the deployed lab (issue 15): `clusterctl chaos` as a user runs it.

Every tier the lab has is faulted in the seed's order, each fault as its tier's drill: every
fault must heal, no registration may be lost, the schedule printed by a dry run with the same
seed must be the one that ran, and database and web faults must cost no call. The
failed-call ratio target (0.1 %) is judged over the nightly 30-minute runs (tests/nightly),
and it is not met yet: calls are lost to two causes that are still open (docs/measurements.md,
"Chaos in the lab"). A VIP move can lose the call whose INVITE the leaving holder took. A
FreeSWITCH being stopped answers 410 while its SIP stack shuts down (up to 7 s), and the edge
does not fail over on 410. Both are printed here, not asserted. The figures are kept in the
session's lab figures.

``CLUSTERCTL_DRILLS_ON_RUNNING_LAB=1`` runs it on the lab that already runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LAB_FIGURES, LAB_INVENTORY

pytestmark = [pytest.mark.lab, pytest.mark.drills]

SEED = "7"
# Faults start during this long; with the last one's drill and heal the run takes about
# 4-5 minutes on the 2-core lab.
DURATION_S = "180"
TIMEOUT_S = 600
REPORT_FILES = ("report.json", "junit.xml", "report.html", "fault-1.jsonl")


@pytest.fixture(scope="module")
def lab_inventory(request: pytest.FixtureRequest) -> Iterator[Path]:
    if os.environ.get("CLUSTERCTL_DRILLS_ON_RUNNING_LAB") == "1":
        assert (LAB_INVENTORY / "hosts.yml").is_file(), f"no running lab: {LAB_INVENTORY}"
        yield LAB_INVENTORY
    else:
        yield request.getfixturevalue("deployed_lab")


def _chaos(inventory: Path, runs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterctl", "chaos", "-i", str(inventory), "--seed", SEED,
         "--duration", DURATION_S, *args],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        env={**os.environ, "CLUSTERCTL_RUNS": str(runs)},
    )


def test_short_chaos_run_heals_every_fault(lab_inventory: Path, tmp_path: Path) -> None:
    plan = _chaos(lab_inventory, tmp_path, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    planned = [ln.removeprefix("would run ") for ln in plan.stdout.splitlines()]
    start = time.monotonic()
    res = _chaos(lab_inventory, tmp_path, "--format", "json")
    elapsed = time.monotonic() - start
    where = Path(next(ln for ln in res.stderr.splitlines()
                      if ln.startswith("reports: ")).removeprefix("reports: "))
    missing = [name for name in REPORT_FILES if not (where / name).is_file()]
    assert not missing, f"{where}: missing {missing}"
    report = json.loads((where / "report.json").read_text())
    totals = report["totals"]
    print(f"chaos seed {SEED}: {elapsed:.0f} s, {report['verdict']}: {json.dumps(totals)}")
    for fault in report["faults"]:
        print(f"  #{fault['number']} {fault['tier']} {fault['fault']} {fault['target']}: "
              f"calls {fault['calls']}, failed {fault['failed_calls']}, healed after "
              f"{fault['healed_s']} s, drill {fault['drill_verdict']} "
              f"{fault['drill_checks_failed'] or ''}")
    LAB_FIGURES["chaos s"] = round(elapsed, 1)
    LAB_FIGURES["chaos faults"] = totals["faults"]
    LAB_FIGURES["chaos calls"] = totals["calls"]
    LAB_FIGURES["chaos failed calls"] = totals["failed_calls"]
    # The seed's schedule is what ran, fault for fault.
    ran = [f"#{f['number']} {f['tier']}: {f['fault']} "
           + ("VIP holder" if f["tier"] == "edge" else f["target"]) for f in report["faults"]]
    assert ran == planned[: len(ran)]
    # Every tier the lab has was faulted at least once in a few minutes at this seed.
    assert {f["tier"] for f in report["faults"]} == set(report["tiers"]), ran
    assert totals["healed"] == totals["faults"] >= 4
    assert totals["registrations_lost"] == 0
    assert totals["calls"] > 0
    costly = [f"#{f['number']} {f['tier']} {f['fault']}: {f['failed_calls']} failed"
              for f in report["faults"] if f["failed_calls"] and f["tier"] in ("db", "web")]
    assert not costly, f"database or web faults cost calls: {costly}; reports in {where}"
    other = [p for p in report["problems"] if not p.startswith("failed-call ratio")]
    assert not other, f"chaos failed (rc {res.returncode}): {other}; reports in {where}"
    assert res.returncode == (0 if report["verdict"] == "pass" else 1)
