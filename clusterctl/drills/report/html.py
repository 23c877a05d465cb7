"""A self-contained HTML report: inline CSS and an inline SVG timeline, no external files.

The timeline of each run shows, on one time axis relative to the fault: the phases, the marks
(fault, exclusion or takeover, restore, re-inclusion), the target's selectability (failover)
or the VIP owner (vip) as a band, and every call as a dot coloured by its outcome, on a lane
per answering server.
"""

from __future__ import annotations

import math
from html import escape

from clusterctl.drills.report import DrillReport
from clusterctl.drills.run import DrillRun

WIDTH, LEFT, RIGHT, LANE = 900, 130, 20, 22
MAX_TICKS = 20
COLORS = ("#1f77b4", "#9467bd", "#8c564b", "#17becf", "#bcbd22")
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
.pass{color:#2a7d2a;font-weight:bold}.fail,.aborted{color:#b22;font-weight:bold}
svg text{font-size:11px;font-family:sans-serif}
"""


def _x(t: float, t0: float, t1: float) -> float:
    span = max(t1 - t0, 1e-6)
    return LEFT + (t - t0) / span * (WIDTH - LEFT - RIGHT)


def _clip(x: float) -> float:
    return min(max(x, LEFT), WIDTH - RIGHT)


def _bounds(run: DrillRun) -> tuple[float, float]:
    times = [s.t for s in run.obs.dest] + [s.t for s in run.obs.vip]
    times += [c.start for c in run.obs.calls] + list(run.obs.marks.values())
    if not times:
        times = [p.started for p in run.phases] + [p.ended for p in run.phases if p.ended]
    return (min(times), max(times)) if times else (0.0, 1.0)


def timeline_svg(run: DrillRun) -> str:
    """The SVG timeline of one run (an <svg> element, no external references)."""
    t0, t1 = _bounds(run)
    fault = run.obs.marks.get("fault", t0)
    servers = sorted({c.answered_by or "none" for c in run.obs.calls})
    lanes = ["phases", "state", *[f"calls: {s}" for s in servers]]
    if run.obs.registers:
        lanes.append("REGISTERs")
    height = 40 + LANE * len(lanes) + 30
    parts = [
        f'<svg width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="drill timeline run {run.number}">'
    ]
    for index, lane in enumerate(lanes):
        y = 30 + index * LANE
        parts.append(f'<text x="4" y="{y + 14}">{escape(lane)}</text>')
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y + LANE}" y2="{y + LANE}" '
            'stroke="#eee"/>'
        )
    for index, phase in enumerate(run.phases):
        x0 = _clip(_x(phase.started, t0, t1))
        x1 = _clip(_x(phase.ended or phase.started, t0, t1))
        color = COLORS[index % len(COLORS)] if phase.ok else "#d62728"
        parts.append(
            f'<rect x="{x0:.1f}" y="32" width="{max(x1 - x0, 1):.1f}" height="16" '
            f'fill="{color}" opacity="0.35"><title>{escape(phase.name)}'
            f"{': ' + escape(phase.detail) if phase.detail else ''}</title></rect>"
        )
    parts += _state_band(run, t0, t1, y=30 + LANE)
    for call in run.obs.calls:
        row = 2 + servers.index(call.answered_by or "none")
        y = 30 + row * LANE + 11
        color = "#2ca02c" if call.ok else "#d62728"
        label = f"{call.call_id}: {call.status or 'no answer'}"
        if call.pdd is not None:
            label += f", PDD {call.pdd:.2f} s"
        parts.append(
            f'<circle cx="{_x(call.start, t0, t1):.1f}" cy="{y}" r="3" fill="{color}">'
            f"<title>{escape(label)}</title></circle>"
        )
    for reg in run.obs.registers:
        y = 30 + (len(lanes) - 1) * LANE + 11
        took = f", {reg.end - reg.start:.2f} s" if reg.end is not None else ""
        parts.append(
            f'<circle cx="{_x(reg.start, t0, t1):.1f}" cy="{y}" r="2" '
            f'fill="{"#2ca02c" if reg.ok else "#d62728"}">'
            f"<title>{escape(f'REGISTER {reg.status or chr(45)}{took}')}</title></circle>"
        )
    for name, t in sorted(run.obs.marks.items(), key=lambda kv: kv[1]):
        x = _x(t, t0, t1)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="22" y2="{height - 26}" '
            'stroke="#000" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{x + 2:.1f}" y="18">{escape(name)}</text>')
    for t, label in _detected(run):
        x = _x(t, t0, t1)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="22" y2="{height - 26}" stroke="#d62728"/>'
        )
        parts.append(
            f'<text x="{x + 2:.1f}" y="{height - 28}" fill="#d62728">{escape(label)}</text>'
        )
    # At most MAX_TICKS labels whatever the span (a long --watch-like run, clock mix-ups).
    step = max(1, math.ceil((t1 - t0) / MAX_TICKS))
    first = math.ceil((t0 - fault) / step) * step
    for second in range(first, math.floor(t1 - fault) + 1, step):
        x = _x(fault + second, t0, t1)
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{second:+d}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _detected(run: DrillRun) -> list[tuple[float, str]]:
    times = run.facts.get("times") or {}
    out = []
    if times.get("excluded"):
        out.append((times["excluded"], "excluded"))
    if times.get("reincluded"):
        out.append((times["reincluded"], "re-included"))
    for check, label in (("VIP takeover", "takeover"), ("HAProxy stops sending to it", "out")):
        took = next((c.measured for c in run.checks if c.name == check), None)
        if took is not None and "fault" in run.obs.marks:
            out.append((run.obs.marks["fault"] + took, label))
    return out


def _state_band(run: DrillRun, t0: float, t1: float, y: int) -> list[str]:
    """Target selectable (green) / excluded (red), VIP owner or the node taking the writes
    (one colour per node), or the web node in HAProxy."""
    target = run.facts.get("target")
    points: list[tuple[float, str, str]] = []
    if run.obs.vip:
        owners = sorted({o for s in run.obs.vip for o in s.owners})
        for sample in run.obs.vip:
            label = "+".join(sample.owners) or "nobody"
            if len(sample.owners) == 1:
                color = COLORS[owners.index(sample.owners[0]) % len(COLORS)]
            else:
                color = "#d62728"
            points.append((sample.t, color, f"VIP: {label}"))
    elif run.obs.writes:
        # drill db: the node that took each write (one colour per node), red while they fail;
        # a new point only where that changes.
        nodes = sorted({w.node for w in run.obs.writes if w.node})
        for w in run.obs.writes:
            if w.ok and w.node:
                color, label = COLORS[nodes.index(w.node) % len(COLORS)], f"writes via {w.node}"
            else:
                color, label = "#d62728", f"writes failing: {w.error}"
            if not points or points[-1][2] != label:
                points.append((w.t, color, label))
    elif run.obs.lookups:
        # drill web: the target in every feature server's HAProxy (green: in everywhere, red:
        # out everywhere, orange: in on some).
        latest: dict[str, bool] = {}
        for lookup in sorted(run.obs.lookups, key=lambda s: s.t):
            latest[lookup.host] = lookup.servers.get(target or "", "").startswith("UP")
            inside = sum(latest.values())
            color = "#2ca02c" if inside == len(latest) else "#d62728" if not inside else "#ff7f0e"
            points.append((lookup.t, color, f"{target}: in HAProxy on {inside}/{len(latest)}"))
    else:
        per_poll: dict[float, bool] = {}
        for s in run.obs.dest:
            if s.host == target:
                per_poll[s.t] = per_poll.get(s.t, False) or s.selectable
        points = [
            (t, "#2ca02c" if ok else "#d62728", f"{target}: {'selectable' if ok else 'excluded'}")
            for t, ok in sorted(per_poll.items())
        ]
    out: list[str] = []
    for (t, color, label), nxt in zip(points, [*points[1:], None][: len(points)], strict=True):
        end = nxt[0] if nxt else t
        x0, x1 = _x(t, t0, t1), _x(end, t0, t1)
        out.append(
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="16" '
            f'fill="{color}"><title>{escape(label)}</title></rect>'
        )
    return out


def to_html(report: DrillReport) -> str:
    """report.html: summary, one table and timeline per run."""
    body = [
        f"<h1>drill {escape(report.drill)} on {escape(report.cluster)}: "
        f'<span class="{report.verdict}">{report.verdict.upper()}</span></h1>',
        "<p>" + escape(", ".join(f"{k}={v}" for k, v in report.params.items())) + "</p>",
    ]
    for run in report.runs:
        body.append(f'<h2>run {run.number}: <span class="{run.verdict}">{run.verdict}</span></h2>')
        rows = "".join(
            f"<tr><td>{escape(c.name)}</td><td>"
            f"{'not observed' if c.measured is None else f'{c.measured:g}'} {c.unit}</td>"
            f"<td>{c.limit.value:g} {c.unit} ({c.limit.source})</td>"
            f"<td>{escape(c.limit.bound)}</td>"
            f'<td class="{"pass" if c.passed else "fail"}">{"pass" if c.passed else "FAIL"}'
            f"</td><td>{escape(c.note)}</td></tr>"
            for c in run.checks
        )
        body.append(
            "<table><tr><th>check</th><th>measured</th><th>limit</th>"
            f"<th>theoretical bound</th><th>result</th><th>note</th></tr>{rows}</table>"
        )
        for problem in filter(
            None,
            [
                run.error,
                run.restore_error and f"restore failed: {run.restore_error}",
                *run.steady_after,
            ],
        ):
            body.append(f'<p class="fail">{escape(problem)}</p>')
        if run.facts.get("mechanism"):
            body.append(f"<p>excluded by: {escape(str(run.facts['mechanism']))}</p>")
        body.append(timeline_svg(run))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>drill {escape(report.drill)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
