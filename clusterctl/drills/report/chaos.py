"""A chaos run's reports: report.json, junit.xml, report.html (the whole run's timeline, then
each fault's drill timeline), fault-N.jsonl (each fault's observation stream) and a terminal
table, written into ``<runs>/<timestamp>-chaos/``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table

from clusterctl.drills.chaos import FAILED_CALL_RATIO_MAX, HEAL_BOUND_S, ChaosRun, FaultResult
from clusterctl.drills.report import new_run_directory, run_dict
from clusterctl.drills.report.html import COLORS, CSS, LANE, LEFT, RIGHT, WIDTH
from clusterctl.drills.report.html import timeline_svg as drill_timeline_svg


def _fault(entry: FaultResult) -> dict[str, Any]:
    f = entry.fault
    return {
        "number": f.number,
        "tier": f.tier,
        "target": entry.run.facts.get("target") or f.target,
        "fault": f.kind,
        "companions": [vars(c) for c in f.companions],
        "drill_verdict": entry.run.verdict,
        "drill_checks_failed": [c.name for c in entry.run.checks if not c.passed],
        "calls": entry.calls,
        "failed_calls": entry.failed_calls,
        "registered": entry.registered,
        "registrations_lost": entry.registrations_lost,
        "healed_s": None if entry.healed_s is None else round(entry.healed_s, 2),
        "problems": entry.problems,
        "run": run_dict(entry.run),
    }


def to_dict(result: ChaosRun, cluster: str) -> dict[str, Any]:
    """What report.json holds."""
    ratio = result.failed_call_ratio
    return {
        "cluster": cluster,
        "seed": result.seed,
        "duration_s": result.duration_s,
        "tiers": list(result.tiers),
        "max_concurrent_faults": result.max_concurrent,
        "started": result.started,
        "ended": result.ended,
        "verdict": result.verdict,
        "stopped": result.stopped,
        "problems": result.problems,
        "totals": {
            "faults": len(result.faults),
            "healed": sum(f.healed_s is not None for f in result.faults),
            "calls": result.calls,
            "failed_calls": result.failed_calls,
            "failed_call_ratio": ratio,
            "failed_call_ratio_max": FAILED_CALL_RATIO_MAX,
            "registrations_lost": result.registrations_lost,
            "heal_bound_s": HEAL_BOUND_S,
        },
        "faults": [_fault(f) for f in result.faults],
    }


def to_json(result: ChaosRun, cluster: str) -> str:
    return json.dumps(to_dict(result, cluster), indent=2, sort_keys=True, default=str) + "\n"


def to_junit(result: ChaosRun) -> str:
    """One test case per fault (a failure names why it fails the run) and one per target."""
    suite = ET.Element("testsuite", name=f"chaos-seed-{result.seed}")
    cases: list[tuple[str, str, str | None]] = [
        (f"fault{f.fault.number}", f.fault.describe(), "; ".join(f.problems) or None)
        for f in result.faults
    ]
    ratio = result.failed_call_ratio
    cases += [
        ("targets", "every fault healed",
         result.stopped or (None if result.faults else "no fault ran")),
        ("targets", f"failed-call ratio <= {100 * FAILED_CALL_RATIO_MAX:g} %",
         "no call was made" if ratio is None else
         None if ratio <= FAILED_CALL_RATIO_MAX else
         f"{result.failed_calls} of {result.calls} calls failed ({100 * ratio:.2f} %)"),
        ("targets", "no registration lost",
         f"{result.registrations_lost} lost" if result.registrations_lost else None),
    ]
    if result.aborted:
        cases.append(("run", "not interrupted", "aborted (Ctrl-C)"))
    for classname, name, failure in cases:
        case = ET.SubElement(suite, "testcase", classname=f"chaos.{classname}", name=name)
        if failure:
            ET.SubElement(case, "failure", message=failure).text = failure
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c[2])))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def timeline_svg(result: ChaosRun) -> str:
    """The whole run on one axis: a lane per tier with each fault from its injection to its
    restore (hatched red: not healed), green to when the cluster was healthy again."""
    t0, t1 = result.started, max(result.ended, result.started + 1)
    lanes = list(result.tiers)
    height = 30 + LANE * len(lanes) + 24

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT)

    parts = [f'<svg width="{WIDTH}" height="{height}" role="img" aria-label="chaos timeline">']
    for index, lane in enumerate(lanes):
        y = 20 + index * LANE
        parts.append(f'<text x="4" y="{y + 14}">{escape(lane)}</text>')
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y + LANE}" '
                     f'y2="{y + LANE}" stroke="#eee"/>')
    for entry in result.faults:
        marks = entry.run.obs.marks
        start, restore = marks.get("fault"), marks.get("restore")
        if start is None:
            continue
        restore = restore or start
        spans = [(entry.fault.tier, entry.fault.kind, entry.run.facts.get("target")
                  or entry.fault.target)]
        spans += [(c.tier, c.kind, c.host) for c in entry.fault.companions]
        for tier, kind, host in spans:
            if tier not in lanes:
                continue
            y = 20 + lanes.index(tier) * LANE + 3
            color = COLORS[entry.fault.number % len(COLORS)] if not entry.problems else "#d62728"
            label = f"#{entry.fault.number} {kind} {host}: " + (
                "; ".join(entry.problems) or f"healed in {entry.healed_s:.1f} s")
            parts.append(f'<rect x="{x(start):.1f}" y="{y}" '
                         f'width="{max(x(restore) - x(start), 2):.1f}" height="16" '
                         f'fill="{color}"><title>{escape(label)}</title></rect>')
            if entry.healed_s is not None:
                parts.append(f'<rect x="{x(restore):.1f}" y="{y + 6}" '
                             f'width="{max(x(restore + entry.healed_s) - x(restore), 1):.1f}" '
                             'height="4" fill="#2ca02c"><title>until healthy again</title></rect>')
    span = t1 - t0
    step = max(10, int(span / 10 // 10 * 10) or 10)
    for second in range(0, int(span) + 1, step):
        parts.append(f'<text x="{x(t0 + second):.1f}" y="{height - 6}" '
                     f'text-anchor="middle">{second}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(result: ChaosRun, cluster: str) -> str:
    ratio = result.failed_call_ratio
    head = [
        f"<h1>chaos on {escape(cluster)}, seed {result.seed}: "
        f'<span class="{result.verdict}">{result.verdict.upper()}</span></h1>',
        f"<p>{len(result.faults)} fault(s) over {result.ended - result.started:.0f} s "
        f"(duration {result.duration_s:g} s, tiers {escape(', '.join(result.tiers))}, "
        f"at most {result.max_concurrent} at a time); calls {result.calls}, failed "
        f"{result.failed_calls}"
        + (f" ({100 * ratio:.3f} %)" if ratio is not None else "")
        + f"; registrations lost {result.registrations_lost}</p>",
        *[f'<p class="fail">{escape(p)}</p>' for p in result.problems],
        timeline_svg(result),
    ]
    rows = "".join(
        f"<tr><td>{f.fault.number}</td><td>{escape(f.fault.describe())}</td>"
        f"<td>{f.calls}</td><td>{f.failed_calls}</td>"
        f"<td>{'-' if f.registrations_lost is None else f.registrations_lost}</td>"
        f"<td>{'not healed' if f.healed_s is None else f'{f.healed_s:.1f} s'}</td>"
        f'<td class="{f.run.verdict}">{f.run.verdict}</td>'
        f'<td class="{"fail" if f.problems else "pass"}">'
        f"{escape('; '.join(f.problems)) or 'ok'}</td></tr>"
        for f in result.faults
    )
    head.append("<table><tr><th>#</th><th>fault</th><th>calls</th><th>failed</th>"
                "<th>registrations lost</th><th>healthy again after restore</th>"
                f"<th>drill checks</th><th>result</th></tr>{rows}</table>")
    for entry in result.faults:
        head.append(f"<h2>{escape(entry.fault.describe())}</h2>")
        checks = "".join(
            f"<tr><td>{escape(c.name)}</td><td>"
            f"{'not observed' if c.measured is None else f'{c.measured:g}'} {c.unit}</td>"
            f"<td>{c.limit.value:g} {c.unit}</td>"
            f'<td class="{"pass" if c.passed else "fail"}">{"pass" if c.passed else "over"}'
            "</td></tr>"
            for c in entry.run.checks
        )
        head.append(f"<table><tr><th>drill check</th><th>measured</th><th>drill limit</th>"
                    f"<th></th></tr>{checks}</table>")
        head.append(drill_timeline_svg(entry.run))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>chaos seed {result.seed}</title><style>{CSS}</style></head><body>"
        + "\n".join(head) + "</body></html>\n"
    )


def write_all(result: ChaosRun, cluster: str, runs_root: Path) -> Path:
    """Every format into ``runs_root/<timestamp>-chaos[-n]/``; returns that directory."""
    directory = new_run_directory(runs_root, result.started, "chaos")
    (directory / "report.json").write_text(to_json(result, cluster))
    (directory / "junit.xml").write_text(to_junit(result))
    (directory / "report.html").write_text(to_html(result, cluster))
    for entry in result.faults:
        entry.run.obs.dump_jsonl(directory / f"fault-{entry.fault.number}.jsonl")
    return directory


def print_report(console: Console, result: ChaosRun) -> None:
    """One row per fault, then the totals and the verdict."""
    table = Table(title=f"chaos seed {result.seed}: {result.verdict.upper()}")
    for column in ("fault", "calls", "failed", "reg. lost", "healthy after", "drill",
                   "result"):
        table.add_column(column)
    for f in result.faults:
        table.add_row(
            rich_escape(f.fault.describe()), str(f.calls),
            str(f.failed_calls),
            "-" if f.registrations_lost is None else str(f.registrations_lost),
            "not healed" if f.healed_s is None else f"{f.healed_s:.1f} s",
            f.run.verdict,
            "[green]ok[/]" if not f.problems else f"[red]{rich_escape('; '.join(f.problems))}[/]",
        )
    console.print(table)
    ratio = result.failed_call_ratio
    console.print(
        f"calls {result.calls}, failed {result.failed_calls}"
        + (f" ({100 * ratio:.3f} %)" if ratio is not None else "")
        + f"; registrations lost {result.registrations_lost}; "
        f"{sum(f.healed_s is not None for f in result.faults)}/{len(result.faults)} healed",
        highlight=False,
    )
    for problem in result.problems:
        console.print(f"[red]{rich_escape(problem)}[/]", highlight=False)
    console.print(f"verdict: {result.verdict.upper()}", highlight=False)
