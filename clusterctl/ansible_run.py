"""Run a playbook through ansible-runner and hand its event stream to a consumer.

ansible-runner calls its event handler on its own thread; the handler writes the plain-text
log and puts each event on a queue, and the caller's thread drains the queue into
``on_event`` (the progress view), as ansible-navigator does. The caller's thread is also the
one that receives Ctrl-C; see :class:`_Canceller` for how the run is stopped.

Every run gets its own directory under :func:`clusterctl.paths.runs_dir`; it is
ansible-runner's ``private_data_dir`` (so its artifacts, including every event as JSON, stay
there) and holds ``deploy.log``, the full plain-text output.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import ansible_runner

from clusterctl import paths
from clusterctl.errors import BadInput, ClusterctlError

Event = Mapping[str, Any]

LOG_NAME = "deploy.log"
IDENT = "deploy"
# ansible-runner checks the cancel flag each time its pexpect wait times out (5 s by default),
# so this bounds how long a forced cancel takes.
_CANCEL_POLL_SECONDS = 0.5
# ansible-playbook waits up to 5 s (WORKER_SHUTDOWN_POLL_COUNT x DELAY) for its workers after
# SIGINT before terminating them; give it that and some slack before killing it.
_CANCEL_GRACE_SECONDS = 10.0
_QUEUE_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class PlaybookResult:
    """What a finished (or cancelled) run left behind.

    ``rc`` is ansible-playbook's exit code (0 ok, 1 error, 2 host failures, 4 unreachable
    hosts, 5 bad options, 250 unexpected error); ansible-runner reports 254 for a cancelled
    run. ``stats`` is the ``playbook_on_stats`` event data, or None when Ansible stopped
    before its recap (syntax error, cancel).
    """

    rc: int
    status: str
    canceled: bool
    run_dir: Path
    log_path: Path
    artifact_dir: Path
    stats: Mapping[str, Any] | None
    elapsed: float


def new_run_dir(kind: str = "deploy") -> Path:
    """Create ``runs_dir()/<timestamp>-<kind>`` (a numbered suffix if it already exists).

    Raises ClusterctlError when the runs directory cannot be created (read-only, a file in
    the way).
    """
    base = paths.runs_dir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1, 100):
            name = f"{stamp}-{kind}" if n == 1 else f"{stamp}-{kind}-{n}"
            candidate = base / name
            try:
                candidate.mkdir(mode=0o700)
            except FileExistsError:
                continue
            return candidate
    except OSError as exc:
        raise ClusterctlError(f"cannot create a run directory under {base}: {exc}") from exc
    raise ClusterctlError(f"cannot create a run directory under {base}: too many runs at {stamp}")


def resolve_playbook(name: str) -> Path:
    """``playbooks/<name>`` (``.yml`` may be omitted), e.g. ``site.yml`` or ``database``.

    Raises BadInput, listing the playbooks there are, for a name that is not a file directly
    under playbooks/ (paths are refused so ``--playbook`` cannot point outside the project).
    """
    file_name = name if name.endswith((".yml", ".yaml")) else f"{name}.yml"
    candidate = paths.PLAYBOOKS / file_name
    if "/" in name or os.sep in name or not candidate.is_file():
        known = sorted(p.name for p in paths.PLAYBOOKS.glob("*.yml"))
        raise BadInput(
            f"unknown playbook {name!r} in {paths.PLAYBOOKS}; "
            f"available: {', '.join(known) or 'none'}"
        )
    return candidate


def _envvars(vault_password_file: Path | None) -> dict[str, str]:
    """Environment for ansible-playbook on top of ours (ansible-runner copies os.environ)."""
    env = {
        "ANSIBLE_CONFIG": str(paths.ANSIBLE_CFG),
        "ANSIBLE_ROLES_PATH": str(paths.ROLES),
        # The log is read as plain text; ansible-playbook runs on a pty and would colour it.
        "ANSIBLE_NOCOLOR": "1",
        # ansible-playbook must come from the same environment as clusterctl, even when the
        # venv is not activated (clusterctl run by its full path).
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    from_env = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if from_env and vault_password_file is None:
        # ansible-playbook runs in the playbooks directory: a relative path would not resolve.
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(Path(from_env).resolve())
    return env


def _cmdline(check: bool, diff: bool, vault_password_file: Path | None) -> str:
    args: list[str] = []
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    if vault_password_file is not None:
        args += ["--vault-password-file", str(vault_password_file.resolve())]
    return shlex.join(args)


class _Canceller:
    """Stops ansible-playbook as Ctrl-C in its own terminal would, then, if need be, harder.

    ansible-runner's cancel SIGKILLs ansible-playbook's process group, but ansible-core starts
    each worker in a session of its own, so workers and the module processes they run would
    survive and finish their task. SIGINT to ansible-playbook makes it forward the signal to
    every worker session and exit (rc 99). ansible-runner's kill (this object is its
    ``cancel_callback``) stays the fallback: when ansible-playbook's pid is not known yet (no
    event so far), when it has not exited within the grace period, or on a second Ctrl-C;
    ansible-core sometimes loses a SIGINT that lands while workers are starting. Before that
    kill, the workers' sessions are killed too, so no module process outlives the run.
    """

    def __init__(self, grace: float = _CANCEL_GRACE_SECONDS) -> None:
        self.grace = grace
        self.pid: int | None = None
        self.requested_at: float | None = None
        self.force = False
        self._killed_workers = False

    @property
    def requested(self) -> bool:
        """True once the user asked to stop the run."""
        return self.requested_at is not None

    def request(self) -> None:
        """First call: SIGINT to ansible-playbook. Later calls: kill it now."""
        if self.requested_at is not None:
            self.force = True
            return
        self.requested_at = time.monotonic()
        pid = self.pid
        try:
            # pexpect starts ansible-playbook as a session leader; anything else means the
            # pid is not (or no longer) ansible-playbook's.
            if pid is None or os.getsid(pid) != pid:
                self.force = True
                return
            os.kill(pid, signal.SIGINT)
        except OSError:
            self.force = True

    def __call__(self) -> bool:
        if self.requested_at is None:
            return False
        kill = self.force or time.monotonic() - self.requested_at > self.grace
        if kill and not self._killed_workers and self.pid is not None:
            self._killed_workers = True
            for session in _child_sessions(self.pid):
                with contextlib.suppress(OSError):  # already gone
                    os.killpg(session, signal.SIGKILL)
        return kill


def _child_sessions(pid: int) -> list[int]:
    """Children of ``pid`` that lead a session of their own (ansible-core's workers).

    Reads /proc (Linux); elsewhere, or when /proc is unreadable, returns what it could find.
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp session ...": comm may contain spaces and ")".
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        child = int(stat.parent.name)
        if int(fields[1]) == pid and int(fields[3]) == child:
            found.append(child)
    return found


class _EventSink:
    """ansible-runner's event handler: appends to the log, then queues the event."""

    def __init__(self, log: TextIO, events: queue.Queue[Event], canceller: _Canceller) -> None:
        self._log = log
        self._events = events
        self._canceller = canceller
        self.stats: Mapping[str, Any] | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        if self._canceller.pid is None and isinstance(event.get("pid"), int):
            # Events are emitted by the callback plugin inside ansible-playbook itself.
            self._canceller.pid = event["pid"]
        text = event.get("stdout")
        if text:
            self._log.write(text + "\n")
            self._log.flush()
        if event.get("event") == "playbook_on_stats":
            self.stats = event.get("event_data", {})
        self._events.put(event)
        # True keeps ansible-runner's own copy of the event under artifacts/.
        return True


def run_playbook(
    playbook: Path,
    inventory: str,
    *,
    limit: str | None,
    tags: str | None,
    check: bool,
    diff: bool,
    extravars: Mapping[str, Any] | None = None,
    skip_tags: str | None = None,
    vault_password_file: Path | None = None,
    on_event: Callable[[Event], None],
    on_start: Callable[[Path], None] | None = None,
    run_dir: Path | None = None,
) -> PlaybookResult:
    """Run ``playbook`` against ``inventory`` and feed every event to ``on_event``.

    ``on_start(run_dir)`` is called once the run directory exists, before Ansible starts.
    Ctrl-C (KeyboardInterrupt) during the run stops it (see :class:`_Canceller`) and the
    result has ``canceled=True``; it is not re-raised. Raises BadInput when the playbook,
    inventory or vault password file does not exist, ClusterctlError when ansible-runner
    cannot start the run. An exception from ``on_event`` cancels the run and propagates.
    """
    playbook = playbook.resolve()
    if not playbook.is_file():
        raise BadInput(f"playbook not found: {playbook}")
    inventory_path = Path(inventory).resolve()
    if not inventory_path.exists():
        raise BadInput(f"inventory not found: {inventory}")
    if vault_password_file is not None and not vault_password_file.exists():
        raise BadInput(f"vault password file not found: {vault_password_file}")

    run_dir = run_dir or new_run_dir()
    log_path = run_dir / LOG_NAME
    if on_start is not None:
        on_start(run_dir)

    events: queue.Queue[Event] = queue.Queue()
    canceller = _Canceller()
    outcome: dict[str, Any] = {}
    started = time.monotonic()

    with log_path.open("w", encoding="utf-8") as log:
        log.write(
            f"# clusterctl: {playbook} -i {inventory_path}"
            f" limit={limit} tags={tags} skip_tags={skip_tags} check={check} diff={diff}\n"
        )
        log.flush()
        sink = _EventSink(log, events, canceller)

        def work() -> None:
            try:
                runner = ansible_runner.run(
                    private_data_dir=str(run_dir),
                    ident=IDENT,
                    project_dir=str(paths.PLAYBOOKS),
                    playbook=str(playbook),
                    inventory=str(inventory_path),
                    limit=limit,
                    tags=tags,
                    skip_tags=skip_tags,
                    cmdline=_cmdline(check, diff, vault_password_file),
                    extravars=dict(extravars) if extravars else None,
                    envvars=_envvars(vault_password_file),
                    settings={"pexpect_timeout": _CANCEL_POLL_SECONDS},
                    # Keeps extra vars and environment (which may carry secrets) off the disk.
                    suppress_env_files=True,
                    quiet=True,
                    event_handler=sink,
                    cancel_callback=canceller,
                )
                outcome["runner"] = runner
            except Exception as exc:  # reported on the caller's thread below
                outcome["error"] = exc

        thread = threading.Thread(target=work, name="ansible-runner", daemon=True)
        thread.start()
        _drain(thread, events, canceller, on_event)
        thread.join()

        if "error" in outcome:
            raise ClusterctlError(
                f"ansible-runner could not run {playbook.name}: {outcome['error']}"
                f" (run directory: {run_dir})"
            )
        runner = outcome["runner"]
        log.write(f"# status={runner.status} rc={runner.rc}\n")

    return PlaybookResult(
        rc=int(runner.rc),
        status=str(runner.status),
        canceled=canceller.requested,
        run_dir=run_dir,
        log_path=log_path,
        artifact_dir=Path(runner.config.artifact_dir),
        stats=sink.stats,
        elapsed=time.monotonic() - started,
    )


def _drain(
    thread: threading.Thread,
    events: queue.Queue[Event],
    canceller: _Canceller,
    on_event: Callable[[Event], None],
) -> None:
    """Feed queued events to ``on_event`` until the runner thread ends and the queue is empty.

    KeyboardInterrupt asks the canceller to stop the run (a second one forces it) and keeps
    draining, so the view still sees the events Ansible wrote before it stopped. Any other
    exception kills the run at once (worker sessions included), waits for it to end and
    propagates.
    """
    while True:
        try:
            try:
                event = events.get(timeout=_QUEUE_POLL_SECONDS)
            except queue.Empty:
                if not thread.is_alive() and events.empty():
                    return
                continue
            on_event(event)
        except KeyboardInterrupt:
            canceller.request()
        except BaseException:
            canceller.request()
            canceller.force = True
            thread.join()
            raise
