"""Drill reports: one data model, rendered as a terminal table, JSON, JUnit XML and HTML.

:func:`write_all` puts ``report.json``, ``junit.xml``, ``report.html`` and each run's raw
observation stream (``run-N.jsonl``, replayable by the analysis) into a run directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterctl.drills.analysis import percentile
from clusterctl.drills.run import DrillRun, Verdict


@dataclass
class DrillReport:
    """A drill invocation: its parameters and every run's result."""

    drill: str
    cluster: str
    params: dict[str, Any]
    runs: list[DrillRun]
    requested_runs: int = 1
    started: float = field(default_factory=time.time)

    @property
    def verdict(self) -> Verdict:
        """pass only when every requested run ran and passed."""
        if any(r.verdict == "aborted" for r in self.runs):
            return "aborted"
        if len(self.runs) < self.requested_runs or any(r.verdict != "pass" for r in self.runs):
            return "fail"
        return "pass"


def _check(check: Any) -> dict[str, Any]:
    return {
        "name": check.name,
        "measured": check.measured,
        "unit": check.unit,
        "limit": check.limit.value,
        "limit_source": check.limit.source,
        "theoretical_bound": check.limit.bound,
        "passed": check.passed,
        "note": check.note,
    }


def run_dict(run: DrillRun) -> dict[str, Any]:
    """One run as plain data."""
    return {
        "number": run.number,
        "verdict": run.verdict,
        "error": run.error,
        "restore_error": run.restore_error,
        "steady_state_after": run.steady_after,
        "phases": [vars(p) for p in run.phases],
        "marks": run.obs.marks,
        "registrations": run.obs.registrations,
        "checks": [_check(c) for c in run.checks],
        "facts": run.facts,
        "calls": len(run.obs.calls),
        "dispatcher_samples": len(run.obs.dest),
        "vip_samples": len(run.obs.vip),
        "poll_errors": [vars(e) for e in run.obs.errors[:50]],
    }


def summary(report: DrillReport) -> dict[str, dict[str, Any]]:
    """Per check over all runs: values, p95, worst, how many passed."""
    out: dict[str, dict[str, Any]] = {}
    for run in report.runs:
        for check in run.checks:
            entry = out.setdefault(
                check.name,
                {
                    "values": [],
                    "passed": 0,
                    "runs": 0,
                    "limit": check.limit.value,
                    "theoretical_bound": check.limit.bound,
                },
            )
            entry["values"].append(check.measured)
            entry["runs"] += 1
            entry["passed"] += check.passed
    for entry in out.values():
        values = [v for v in entry["values"] if v is not None]
        entry["p95"] = percentile(values, 95)
        entry["min"] = min(values) if values else None
        entry["max"] = max(values) if values else None
    return out


def to_dict(report: DrillReport) -> dict[str, Any]:
    """The whole report as plain data (what report.json holds)."""
    return {
        "drill": report.drill,
        "cluster": report.cluster,
        "started": report.started,
        "params": report.params,
        "verdict": report.verdict,
        "requested_runs": report.requested_runs,
        "runs": [run_dict(r) for r in report.runs],
        "summary": summary(report),
    }


def to_json(report: DrillReport) -> str:
    """report.json."""
    return json.dumps(to_dict(report), indent=2, sort_keys=True, default=str) + "\n"


def new_run_directory(runs_root: Path, started: float, name: str) -> Path:
    """``runs_root/<timestamp>-<name>/`` (``-2``, ``-3``... when taken), created."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    directory = runs_root / f"{stamp}-{name}"
    suffix = 1
    while directory.exists():
        suffix += 1
        directory = runs_root / f"{stamp}-{name}-{suffix}"
    directory.mkdir(parents=True)
    return directory


def write_all(report: DrillReport, runs_root: Path) -> Path:
    """Write every format into ``runs_root/<timestamp>-drill-<name>/``; returns that path."""
    from clusterctl.drills.report.html import to_html  # noqa: PLC0415
    from clusterctl.drills.report.junit import to_junit  # noqa: PLC0415

    directory = new_run_directory(runs_root, report.started, f"drill-{report.drill}")
    (directory / "report.json").write_text(to_json(report))
    (directory / "junit.xml").write_text(to_junit(report))
    (directory / "report.html").write_text(to_html(report))
    for run in report.runs:
        run.obs.dump_jsonl(directory / f"run-{run.number}.jsonl")
    return directory
