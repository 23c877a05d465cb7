"""The report formats rendered from replayed streams: JSON, JUnit XML, HTML, terminal."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from test_drill_analysis import cluster

from clusterctl.drills import failover, vip
from clusterctl.drills.observe import load_jsonl
from clusterctl.drills.report import DrillReport, to_json, write_all
from clusterctl.drills.report.html import to_html
from clusterctl.drills.report.junit import to_junit
from clusterctl.drills.report.terminal import print_report
from clusterctl.drills.run import DrillRun, Phase
from clusterctl.drills.thresholds import thresholds_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "drills"


def replayed(name, number=1):
    c = cluster()
    obs = load_jsonl(FIXTURES / name)
    if obs.meta["drill"] == "vip":
        checks, facts = vip.analyze(
            obs,
            c.settings.vrrp_instances[0],
            "edge1",
            thresholds_for(c.settings, vip_fault=obs.meta["fault"]),
        )
    else:
        checks, facts = failover.analyze(obs, c, "fs1a", thresholds_for(c.settings))
    fault = obs.marks["fault"]
    phases = [Phase("observe baseline", fault - 3, fault), Phase("inject fault", fault, fault)]
    return DrillRun(number, phases=phases, obs=obs, checks=checks, facts=facts)


def report(*names, requested=None):
    runs = [replayed(n, i) for i, n in enumerate(names, 1)]
    return DrillReport(
        "failover",
        "drilltest",
        {"target": "fs1a", "fault": "kill"},
        runs,
        requested_runs=requested or len(runs),
        started=1000.0,
    )


def test_json_carries_bound_beside_measured_and_the_verdict():
    doc = json.loads(to_json(report("failover_traffic_kill_opensips.jsonl")))
    assert doc["verdict"] == "pass"
    check = next(c for c in doc["runs"][0]["checks"] if c["name"].startswith("detection"))
    assert check["measured"] == 2.1
    assert check["limit"] == 2.5
    assert check["theoretical_bound"].startswith("F = 2 s")
    assert doc["runs"][0]["facts"]["mechanism"] == "failed call"
    assert doc["summary"]["detection (under traffic)"]["p95"] == 2.1


def test_junit_has_a_failure_per_failed_check():
    rep = report("failover_traffic_kill_opensips.jsonl", "failover_flapping_fail.jsonl")
    root = ET.fromstring(to_junit(rep))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "drill-failover"
    failures = suite.findall("testcase/failure")
    failed_names = {
        case.get("name") for case in suite.findall("testcase") if case.find("failure") is not None
    }
    assert "state flaps" in failed_names and "failed calls in window" in failed_names
    assert int(suite.get("failures")) == len(failures) == 6
    assert int(suite.get("tests")) == len(suite.findall("testcase"))
    assert any("theory:" in (f.get("message") or "") for f in failures)


def test_junit_counts_missing_runs_as_a_failure():
    root = ET.fromstring(to_junit(report("failover_traffic_kill_opensips.jsonl", requested=10)))
    names = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert names == ["all requested runs"]


def test_html_is_self_contained_with_a_timeline():
    html = to_html(report("failover_traffic_kill_opensips.jsonl", "vip_split_brain.jsonl"))
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html and "<link" not in html
    assert html.count("<svg") == 2
    # Every call is a dot; the fault, restore and exclusion are on the chart.
    assert html.count("<circle") == 70 + 2
    assert ">fault</text>" in html and ">excluded</text>" in html and ">takeover</text>" in html
    ET.fromstring(re.search(r"<svg.*?</svg>", html, re.DOTALL).group(0))  # well-formed SVG


def test_write_all_puts_every_format_in_a_new_run_directory(tmp_path):
    rep = report("vip_kill_ok.jsonl")
    first = write_all(rep, tmp_path)
    second = write_all(rep, tmp_path)
    assert first != second and first.name.endswith("-drill-failover")
    assert {p.name for p in first.iterdir()} == {
        "report.json",
        "junit.xml",
        "report.html",
        "run-1.jsonl",
    }
    assert load_jsonl(first / "run-1.jsonl").vip == rep.runs[0].obs.vip


def test_terminal_table_shows_measured_limit_and_bound():
    console = Console(record=True, width=200)
    print_report(console, report("failover_flapping_fail.jsonl"))
    text = console.export_text()
    assert "FAIL" in text and "state flaps" in text
    assert "N*I+F" not in text  # under traffic the traffic bound is shown
    assert "F = 2 s from the first call to the dead server" in text
    assert "verdict: FAIL (1 of 1 runs)" in text


def test_timeline_labels_stay_bounded_when_clocks_disagree():
    run = replayed("vip_kill_ok.jsonl")
    run.obs.mark("restore", 1.8e9)  # a backend on another clock: must not explode the chart
    html = to_html(DrillReport("vip", "drilltest", {}, [run]))
    assert 1 <= len(re.findall(r'text-anchor="middle">[+-]\d+s<', html)) <= 21


def test_terminal_summary_over_several_runs():
    console = Console(record=True, width=200)
    print_report(
        console,
        report(
            "failover_traffic_kill_opensips.jsonl",
            "failover_traffic_kill_opensips.jsonl",
            "failover_flapping_fail.jsonl",
        ),
    )
    text = console.export_text()
    assert "drill failover: 3 runs" in text
    line = next(ln for ln in text.splitlines() if "detection (under traffic)" in ln and "/3" in ln)
    assert "2/3" in line and "5" in line  # the bad run's 5 s is the max
