"""The rich table printed at the end of a drill."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clusterctl.drills.report import DrillReport, summary


def print_report(console: Console, report: DrillReport) -> None:
    """One table per run: check, measured, limit, theoretical bound, result; then facts."""
    for run in report.runs:
        table = Table(title=f"drill {report.drill}: run {run.number} - {run.verdict.upper()}")
        for column in ("check", "measured", "limit", "theoretical bound", "result", "note"):
            table.add_column(column)
        for check in run.checks:
            measured = "not observed" if check.measured is None else f"{check.measured:g}"
            table.add_row(
                escape(check.name),
                f"{measured} {check.unit}".strip(),
                f"{'>=' if not check.higher_is_worse else '<='} {check.limit.value:g} "
                f"{check.unit}".strip()
                + (" (inventory)" if check.limit.source == "inventory" else ""),
                escape(check.limit.bound),
                "[green]pass[/]" if check.passed else "[red]FAIL[/]",
                escape(check.note),
            )
        console.print(table)
        if run.facts.get("mechanism"):
            console.print(f"excluded by: {run.facts['mechanism']}", highlight=False)
        if "answered_by" in run.facts:
            parts = [f"{k}: {v}" for k, v in run.facts["answered_by"].items()]
            console.print("answered by - " + "; ".join(parts), markup=False, highlight=False)
        for problem in (
            ([run.error] if run.error else [])
            + ([f"RESTORE FAILED: {run.restore_error}"] if run.restore_error else [])
            + [f"steady state after: {p}" for p in run.steady_after]
        ):
            console.print(f"[red]{escape(problem)}[/]", highlight=False)
    if len(report.runs) > 1:
        console.print(summary_table(report))
    console.print(
        f"verdict: {report.verdict.upper()} ({len(report.runs)} of {report.requested_runs} runs)",
        highlight=False,
    )


def summary_table(report: DrillReport) -> Table:
    """Per check over all runs: passed runs, min, p95, max beside the limit and the bound."""
    table = Table(title=f"drill {report.drill}: {len(report.runs)} runs")
    for column in ("check", "passed", "min", "p95", "max", "limit", "theoretical bound"):
        table.add_column(column)
    for name, entry in summary(report).items():
        table.add_row(
            escape(name),
            f"{entry['passed']}/{entry['runs']}",
            *(_num(entry[key]) for key in ("min", "p95", "max")),
            f"{entry['limit']:g}",
            escape(entry["theoretical_bound"]),
        )
    return table


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
