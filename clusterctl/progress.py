"""Turn ansible-runner events into a live view, plain CI lines and a final per-host summary.

Everything here consumes plain event dicts (as ansible-runner emits them and as
tests/fixtures/runner_events/ records them); nothing talks to Ansible, so recorded runs
replay into the view exactly as live ones do.

Live counts follow Ansible's own bookkeeping (a changed result is also ok; a failure under
``ignore_errors`` counts as ok and ignored). A failure that a ``rescue:`` later handles cannot
be told apart from the event alone, so it shows as failed until the recap: the final summary
comes from ``playbook_on_stats``, which is authoritative.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any, Protocol, Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

Event = Mapping[str, Any]

# playbook_on_stats keys -> summary columns, in the order of Ansible's PLAY RECAP.
STATS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ok", "ok"),
    ("changed", "changed"),
    ("dark", "unreachable"),
    ("failures", "failed"),
    ("skipped", "skipped"),
    ("rescued", "rescued"),
    ("ignored", "ignored"),
)
LIVE_COLUMNS = ("ok", "changed", "failed", "unreachable", "skipped")
_MESSAGE_MAX = 300


@dataclass
class HostCounts:
    """Per-host result counts, named like the columns of Ansible's PLAY RECAP."""

    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def get(self, name: str) -> int:
        """The count called ``name``; raises AttributeError for an unknown column."""
        value: int = getattr(self, name)
        return value

    @property
    def bad(self) -> bool:
        """True when the host failed or could not be reached."""
        return self.failed > 0 or self.unreachable > 0


@dataclass(frozen=True)
class HostProblem:
    """One failed or unreachable result, with the message Ansible gave for it."""

    host: str
    task: str
    kind: str  # "failed", "ignored" or "unreachable"
    message: str


def result_message(event_data: Mapping[str, Any]) -> str:
    """A one-line message for a failed/unreachable result (msg, else stderr, else a stub)."""
    res = event_data.get("res") or {}
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    # A loop's task-level result only says "One or more items failed": name the first item.
    for item in res.get("results") or ():
        if isinstance(item, Mapping) and item.get("failed"):
            detail = item.get("msg") or item.get("stderr") or msg
            msg = f"item {item.get('item')!r}: {detail}"
            break
    text = " ".join(str(msg).split()) or "(no message)"
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


class RunState:
    """A fold of the event stream: current play and task, per-host counts, stats.

    ``running`` maps (task_uuid, host) to the task name for every result that has started but
    not ended, as ansible-navigator keys it; a task with ``async``/``free`` strategy can have
    several in flight. Unknown event types are ignored (ansible-runner adds new ones).
    """

    def __init__(self) -> None:
        self.playbook: str | None = None
        self.play: str | None = None
        self.task: str | None = None
        self.counts: dict[str, HostCounts] = {}
        self.running: dict[tuple[str, str], str] = {}
        self.problems: list[HostProblem] = []
        self.stats: dict[str, HostCounts] | None = None
        self.plays = 0
        self.tasks = 0

    def _host(self, name: str) -> HostCounts:
        return self.counts.setdefault(name, HostCounts())

    def apply(self, event: Event) -> HostProblem | None:
        """Update the state with one event; returns the problem it reports, if any."""
        kind = event.get("event", "")
        data: Mapping[str, Any] = event.get("event_data") or {}
        host = data.get("host")
        key = (str(data.get("task_uuid", "")), str(host))
        if kind == "playbook_on_start":
            self.playbook = data.get("playbook")
        elif kind == "playbook_on_play_start":
            self.play = data.get("name") or data.get("play") or ""
            self.task = None
            self.plays += 1
        elif kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self.task = data.get("name") or data.get("task") or ""
            self.tasks += 1
        elif kind == "runner_on_start" and host:
            self.running[key] = str(data.get("task", ""))
            self._host(host)
        elif kind == "runner_on_ok" and host:
            self.running.pop(key, None)
            counts = self._host(host)
            counts.ok += 1
            counts.changed += bool((data.get("res") or {}).get("changed"))
        elif kind == "runner_on_skipped" and host:
            self.running.pop(key, None)
            self._host(host).skipped += 1
        elif kind == "runner_on_failed" and host:
            self.running.pop(key, None)
            counts = self._host(host)
            if data.get("ignore_errors"):
                counts.ok += 1
                counts.ignored += 1
                return self._problem(host, data, "ignored")
            counts.failed += 1
            return self._problem(host, data, "failed")
        elif kind == "runner_on_unreachable" and host:
            self.running.pop(key, None)
            self._host(host).unreachable += 1
            return self._problem(host, data, "unreachable")
        elif kind == "playbook_on_stats":
            self.stats = stats_counts(data)
        return None

    def _problem(self, host: str, data: Mapping[str, Any], kind: str) -> HostProblem:
        problem = HostProblem(host, str(data.get("task", "")), kind, result_message(data))
        self.problems.append(problem)
        return problem


def stats_counts(stats: Mapping[str, Any]) -> dict[str, HostCounts]:
    """Per-host counts from ``playbook_on_stats`` event data (or PlaybookResult.stats)."""
    hosts: set[str] = set(stats.get("processed") or {})
    for key, _ in STATS_COLUMNS:
        hosts.update(stats.get(key) or {})
    table: dict[str, HostCounts] = {}
    for host in sorted(hosts):
        values = {column: int((stats.get(key) or {}).get(host, 0)) for key, column in STATS_COLUMNS}
        table[host] = HostCounts(**values)
    return table


def summary_table(counts: Mapping[str, HostCounts], title: str) -> Table:
    """The per-host table: one row per host, failed/unreachable rows in red."""
    table = Table(title=title, title_justify="left")
    table.add_column("host")
    names = [f.name for f in fields(HostCounts)]
    for name in names:
        table.add_column(name, justify="right")
    for host in sorted(counts):
        row = counts[host]
        table.add_row(host, *(str(row.get(n)) for n in names), style="red" if row.bad else None)
    return table


def _problem_line(problem: HostProblem) -> str:
    label = {"failed": "FAILED", "ignored": "FAILED (ignored)", "unreachable": "UNREACHABLE"}
    return f"  {problem.host} {label[problem.kind]}: {problem.task}: {problem.message}"


class ProgressView(Protocol):
    """What the deploy command drives: a context manager fed one event at a time."""

    state: RunState

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def handle(self, event: Event) -> None: ...

    def print_summary(self) -> None: ...


class _BaseView:
    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.state = RunState()
        self._clock = clock
        self._started = clock()
        # The live view renders from rich's refresh thread while events arrive on ours.
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        """Seconds since the view was created."""
        return self._clock() - self._started

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def print_summary(self) -> None:
        """Print the per-host table from the recap, or the counts seen if there was none."""
        with self._lock:
            if self.state.stats is not None:
                table = summary_table(self.state.stats, "PLAY RECAP")
            else:
                table = summary_table(
                    self.state.counts, "no recap from Ansible (run stopped early); results seen"
                )
        self.console.print(table)
        self.console.print(f"elapsed {self.elapsed:.1f}s", highlight=False)


class PlainView(_BaseView):
    """No TTY (CI, pipes): one line per play, per task start, per failed/unreachable result."""

    def handle(self, event: Event) -> None:
        """Print the line(s) this event deserves; never redraws anything."""
        with self._lock:
            kind = event.get("event")
            problem = self.state.apply(event)
            stamp = f"[{self.elapsed:7.1f}s]"
            if kind == "playbook_on_play_start":
                self._out(f"{stamp} PLAY [{self.state.play}]")
            elif kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
                self._out(f"{stamp} TASK [{self.state.task}]")
            elif problem is not None:
                self._out(_problem_line(problem))

    def _out(self, line: str) -> None:
        # markup/highlight off: task names and Ansible messages may contain [brackets].
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class LiveView(_BaseView):
    """TTY: a rich Live panel (play, task, hosts in flight, per-host counts, elapsed time).

    Plays and failed/unreachable results are also printed above the panel so they stay on
    screen after it is gone.
    """

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(console, clock)
        self._live = Live(
            console=console,
            get_renderable=self.render,
            refresh_per_second=4,
            transient=True,
        )

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()

    def handle(self, event: Event) -> None:
        """Update the panel; print plays and problems above it."""
        kind = event.get("event")
        with self._lock:
            problem = self.state.apply(event)
            play = self.state.play
        # Printed outside the lock: rich renders the panel (which takes the lock) under its
        # own lock while printing, and the refresh thread takes them in that order too.
        if kind == "playbook_on_play_start":
            self.console.print(Text(f"PLAY [{play}]", style="bold"))
        elif problem is not None:
            style = "yellow" if problem.kind == "ignored" else "red"
            self.console.print(Text(_problem_line(problem), style=style))

    def render(self) -> RenderableType:
        """The panel as it should look now (called by rich's refresh thread)."""
        with self._lock:
            state = self.state
            head = Text.assemble(
                ("PLAY ", "bold"),
                f"[{state.play or '-'}]  ",
                ("TASK ", "bold"),
                f"[{state.task or '-'}]  ",
                (f"{self.elapsed:.0f}s", "dim"),
            )
            in_flight = sorted({host for (_, host) in state.running})
            busy = Text(f"running on: {', '.join(in_flight) or '-'}", style="dim")
            table = Table(box=None, pad_edge=False)
            table.add_column("host")
            for name in LIVE_COLUMNS:
                table.add_column(name, justify="right")
            for host in sorted(state.counts):
                row = state.counts[host]
                table.add_row(
                    host, *(str(row.get(n)) for n in LIVE_COLUMNS), style="red" if row.bad else None
                )
            return Group(head, busy, table)


def make_view(console: Console, clock: Callable[[], float] = time.monotonic) -> ProgressView:
    """A LiveView when ``console`` is a terminal, else a PlainView."""
    if console.is_terminal:
        return LiveView(console, clock)
    return PlainView(console, clock)
