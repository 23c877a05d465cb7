"""JUnit XML for CI: one test case per check per run, plus restore and steady state after."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from clusterctl.drills.report import DrillReport


def _value(measured: float | None, unit: str) -> str:
    return "not observed" if measured is None else f"{measured:g}{(' ' + unit) if unit else ''}"


def to_junit(report: DrillReport) -> str:
    """junit.xml: a failed check is a <failure> naming measured value, limit and bound."""
    suite = ET.Element("testsuite", name=f"drill-{report.drill}")
    tests = failures = errors = 0
    for run in report.runs:
        cases: list[tuple[str, str | None, str | None]] = [
            (
                c.name,
                None
                if c.passed
                else f"measured {_value(c.measured, c.unit)}, limit {c.limit.value:g}; "
                f"theory: {c.limit.bound}",
                None,
            )
            for c in run.checks
        ]
        cases.append(("restore", None, run.restore_error))
        cases.append(("steady state after", "; ".join(run.steady_after) or None, None))
        if run.error or run.aborted:
            cases.append(("run", None, run.error or "aborted (Ctrl-C)"))
        for name, failure, error in cases:
            case = ET.SubElement(
                suite, "testcase", classname=f"drill.{report.drill}.run{run.number}", name=name
            )
            tests += 1
            if failure:
                failures += 1
                ET.SubElement(case, "failure", message=failure).text = failure
            if error:
                errors += 1
                ET.SubElement(case, "error", message=error).text = error
    if len(report.runs) < report.requested_runs:
        case = ET.SubElement(
            suite, "testcase", classname=f"drill.{report.drill}", name="all requested runs"
        )
        tests += 1
        failures += 1
        message = f"{len(report.runs)} of {report.requested_runs} runs ran"
        ET.SubElement(case, "failure", message=message).text = message
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"
