"""The progress view, fed with ansible-runner events recorded from real runs.

The recordings (tests/fixtures/runner_events/*.jsonl) come from record.py in that directory:
mixed.yml run against three local hosts, once normally and once with --check, and
unreachable.yml with one host behind a closed loopback port.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from clusterctl.progress import (
    HostCounts,
    LiveView,
    PlainView,
    RunState,
    make_view,
    result_message,
    stats_counts,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runner_events"

# PLAY RECAP of the recorded mixed.yml run (ansible-core 2.19), as Ansible printed it.
MIXED_RECAP = {
    "h1": HostCounts(ok=5, changed=1, unreachable=0, failed=1, skipped=2, rescued=0, ignored=1),
    "h2": HostCounts(ok=4, changed=1, unreachable=0, failed=0, skipped=4, rescued=1, ignored=0),
    "h3": HostCounts(ok=3, changed=1, unreachable=0, failed=1, skipped=2, rescued=0, ignored=0),
}


def load(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


class FakeClock:
    """Advances 0.5 s per reading, so elapsed times in the output are predictable."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=False, color_system=None), out


def replay(view: PlainView | LiveView, events: list[dict[str, Any]]) -> None:
    with view:
        for event in events:
            view.handle(event)


def recap_rows(text: str) -> dict[str, list[int]]:
    """Host rows of a printed summary table: {host: [ok, changed, ..., ignored]}."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) == 8 and re.fullmatch(r"h\d", cells[0]):
            rows[cells[0]] = [int(c) for c in cells[1:]]
    return rows


def as_row(counts: HostCounts) -> list[int]:
    return [
        counts.ok,
        counts.changed,
        counts.unreachable,
        counts.failed,
        counts.skipped,
        counts.rescued,
        counts.ignored,
    ]


def test_recording_is_a_real_run() -> None:
    events = load("mixed")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "playbook_on_start"
    assert kinds[-1] == "playbook_on_stats"
    assert [e["counter"] for e in events] == list(range(1, len(events) + 1))
    assert not any("/tmp/" in json.dumps(e) for e in events)


def test_plain_view_prints_plays_tasks_and_problems_only() -> None:
    events = load("mixed")
    console, out = plain_console()
    view = PlainView(console, FakeClock())
    replay(view, events)
    lines = out.getvalue().splitlines()

    plays = [line for line in lines if " PLAY [" in line]
    tasks = [line for line in lines if " TASK [" in line]
    assert [p.split("PLAY ", 1)[1] for p in plays] == ["[Mixed results]", "[Second play]"]
    assert len(tasks) == sum(e["event"] == "playbook_on_task_start" for e in events) == 9
    problems = [line.strip() for line in lines if line.startswith("  h")]
    assert problems == [
        "h1 FAILED (ignored): Ignored failure on h1: ignored on h1",
        "h2 FAILED: Fails then rescued: rescue me",
        "h3 FAILED: Fails on h3: h3 is broken",
        "h1 FAILED: Loop with one failing item on h1: item 2: item 2 failed",
    ]
    assert len(lines) == len(plays) + len(tasks) + len(problems)
    # CI logs: no cursor movement, no colour, no carriage returns.
    assert "\x1b" not in out.getvalue()
    assert "\r" not in out.getvalue()


def test_plain_view_stamps_elapsed_time() -> None:
    console, out = plain_console()
    view = PlainView(console, FakeClock())  # created at 100.5
    view.handle(load("mixed")[1])  # playbook_on_play_start, read at 101.0
    assert out.getvalue().startswith("[    0.5s] PLAY [Mixed results]")


def test_live_counts_follow_ansible_bookkeeping() -> None:
    state = RunState()
    for event in load("mixed"):
        state.apply(event)
    assert state.counts == {
        "h1": HostCounts(ok=5, changed=1, failed=1, skipped=2, ignored=1),
        # h2's failure was rescued: the event cannot tell, the recap does (below).
        "h2": HostCounts(ok=4, changed=1, failed=1, skipped=4),
        "h3": HostCounts(ok=3, changed=1, failed=1, skipped=2),
    }
    assert state.stats == MIXED_RECAP
    assert state.running == {}, "every started result was matched by its end"
    assert (state.plays, state.tasks) == (2, 9)
    for host, live in state.counts.items():
        recap = MIXED_RECAP[host]
        assert (live.ok, live.changed, live.skipped, live.ignored) == (
            recap.ok,
            recap.changed,
            recap.skipped,
            recap.ignored,
        )
        assert live.failed == recap.failed + recap.rescued


def test_running_is_keyed_on_task_and_host() -> None:
    state = RunState()
    events = load("mixed")
    changed_task = next(
        e
        for e in events
        if e["event"] == "playbook_on_task_start" and e["event_data"]["name"] == "Changed on all"
    )
    for event in events[: events.index(changed_task) + 4]:  # the task and its 3 runner_on_start
        state.apply(event)
    uuid = changed_task["event_data"]["task_uuid"]
    assert state.running == {(uuid, h): "Changed on all" for h in ("h1", "h2", "h3")}
    assert state.task == "Changed on all"


def test_summary_rows_come_from_the_recap() -> None:
    console, out = plain_console()
    view = PlainView(console, FakeClock())
    replay(view, load("mixed"))
    before = out.tell()
    view.print_summary()
    summary = out.getvalue()[before:]
    assert "PLAY RECAP" in summary
    assert recap_rows(summary) == {h: as_row(c) for h, c in MIXED_RECAP.items()}
    assert re.search(r"^elapsed \d+\.\ds$", summary, re.M)


def test_check_mode_recording_changes_nothing() -> None:
    state = RunState()
    for event in load("mixed_check"):
        state.apply(event)
    assert state.stats is not None
    assert all(c.changed == 0 for c in state.stats.values())
    # command is skipped in check mode: one more skip per host than the real run.
    assert {h: c.skipped for h, c in state.stats.items()} == {"h1": 3, "h2": 5, "h3": 3}


def test_unreachable_host_is_reported_with_its_message() -> None:
    console, out = plain_console()
    view = PlainView(console, FakeClock())
    replay(view, load("unreachable"))
    view.print_summary()
    text = out.getvalue()
    line = next(line for line in text.splitlines() if "UNREACHABLE" in line)
    assert line.startswith("  h4 UNREACHABLE: Ping: ")
    assert "Connection refused" in line
    assert recap_rows(text) == {"h1": [1, 0, 0, 0, 0, 0, 0], "h4": [0, 0, 1, 0, 0, 0, 0]}


def test_summary_without_recap_shows_results_seen() -> None:
    events = [e for e in load("mixed") if e["event"] != "playbook_on_stats"]
    console, out = plain_console()
    view = PlainView(console, FakeClock())
    replay(view, events)
    view.print_summary()
    text = out.getvalue()
    assert "no recap from Ansible" in text
    assert recap_rows(text)["h2"] == [4, 1, 0, 1, 4, 0, 0]


def test_live_view_on_a_terminal() -> None:
    console = Console(record=True, force_terminal=True, width=120, color_system="truecolor")
    view = make_view(console, FakeClock())
    assert isinstance(view, LiveView)
    events = load("mixed")
    with view:
        for event in events[:13]:
            view.handle(event)
        panel = Console(record=True, width=120)
        panel.print(view.render())
        now = panel.export_text()
        assert "PLAY [Mixed results]" in now
        assert "TASK [Changed on all]" in now
        assert "running on: h1, h2, h3" in now
        for event in events[13:]:
            view.handle(event)
    view.print_summary()
    text = console.export_text(clear=False)
    assert "PLAY [Second play]" in text
    assert "h3 FAILED: Fails on h3: h3 is broken" in text
    assert recap_rows(text) == {h: as_row(c) for h, c in MIXED_RECAP.items()}
    assert "\x1b[" in console.export_text(styles=True), "a terminal gets colour"


def test_live_panel_counts_per_host() -> None:
    view = LiveView(Console(file=io.StringIO(), force_terminal=True, width=120), FakeClock())
    for event in load("mixed")[:-1]:
        view.handle(event)
    panel = Console(record=True, width=120)
    panel.print(view.render())
    rows = {
        line.split()[0]: [int(n) for n in line.split()[1:]]
        for line in panel.export_text().splitlines()
        if re.match(r"h\d ", line)
    }
    # columns: ok changed failed unreachable skipped
    assert rows == {"h1": [5, 1, 1, 0, 2], "h2": [4, 1, 1, 0, 4], "h3": [3, 1, 1, 0, 2]}


def test_make_view_without_terminal_is_plain() -> None:
    console, _ = plain_console()
    assert isinstance(make_view(console), PlainView)


def test_unknown_and_empty_events_are_ignored() -> None:
    state = RunState()
    assert state.apply({"event": "something_new", "event_data": {"host": "x"}}) is None
    assert state.apply({}) is None
    assert state.counts == {}


@pytest.mark.parametrize(
    ("res", "expected"),
    [
        ({"msg": "boom"}, "boom"),
        ({"stderr": "line one\n  line two"}, "line one line two"),
        ({}, "(no message)"),
        (
            {
                "msg": "One or more items failed",
                "results": [{"item": 1}, {"item": 2, "failed": True, "msg": "x"}],
            },
            "item 2: x",
        ),
        ({"msg": "y" * 400}, "y" * 297 + "..."),
    ],
)
def test_result_message(res: dict[str, Any], expected: str) -> None:
    assert result_message({"res": res}) == expected


def test_stats_counts_includes_hosts_with_only_failures() -> None:
    counts = stats_counts({"ok": {}, "failures": {"db1": 2}, "dark": {"db2": 1}, "processed": {}})
    assert counts == {"db1": HostCounts(failed=2), "db2": HostCounts(unreachable=1)}


def _hosts(events: list[dict[str, Any]]) -> Iterator[str]:
    for e in events:
        host = e.get("event_data", {}).get("host")
        if host:
            yield host


def test_every_recorded_host_appears_in_the_summary() -> None:
    for name in ("mixed", "mixed_check", "unreachable"):
        events = load(name)
        state = RunState()
        for event in events:
            state.apply(event)
        assert state.stats is not None
        assert set(state.stats) == set(_hosts(events))
