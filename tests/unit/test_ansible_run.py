"""The playbook runs (real ansible-playbook on local-connection hosts) and `clusterctl deploy`.

The real runs need only Ansible (no containers, no network): the fixture inventory's hosts
all use the local connection, and the one unreachable host is a closed loopback port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clusterctl import ansible_run, paths
from clusterctl.ansible_run import PlaybookResult, new_run_dir, resolve_playbook, run_playbook
from clusterctl.cli import main
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.progress import RunState, stats_counts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runner_events"
HOSTS = str(FIXTURES / "hosts.yml")


def recorded_stats(name: str) -> dict[str, Any]:
    lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    stats: dict[str, Any] = json.loads(lines[-1])["event_data"]
    return stats


@pytest.fixture(autouse=True)
def runs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("CLUSTERCTL_RUNS", str(runs))
    return runs


def leftover_sleeps() -> list[int]:
    """Pids of processes running the slow fixture's ``sleep 37.25``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", b"37.25"]:
            found.append(int(proc.name))
    return found


# --- real runs ----------------------------------------------------------------------------


def test_real_run_reports_ansible_rc_stats_and_artifacts(runs_in_tmp: Path) -> None:
    events: list[dict[str, Any]] = []
    started: list[Path] = []
    result = run_playbook(
        FIXTURES / "mixed.yml",
        HOSTS,
        limit=None,
        tags=None,
        check=False,
        diff=False,
        on_event=lambda e: events.append(dict(e)),
        on_start=started.append,
    )
    assert (result.rc, result.status, result.canceled) == (2, "failed", False)
    assert started == [result.run_dir]
    assert result.run_dir.parent == runs_in_tmp
    assert re.fullmatch(r"\d{8}-\d{6}-deploy", result.run_dir.name)
    assert result.stats is not None
    assert stats_counts(result.stats) == stats_counts(recorded_stats("mixed"))
    # The consumer saw every event, in order, and they fold to the same recap.
    assert [e["counter"] for e in events] == list(range(1, len(events) + 1))
    state = RunState()
    for event in events:
        state.apply(event)
    assert state.stats == stats_counts(result.stats)
    log = result.log_path.read_text(encoding="utf-8")
    assert result.log_path == result.run_dir / "deploy.log"
    assert "PLAY RECAP" in log
    assert "h3 is broken" in log
    assert "\x1b[" not in log, "the log is plain text"
    assert log.rstrip().endswith("# status=failed rc=2")
    job_events = list((result.artifact_dir / "job_events").glob("*.json"))
    assert len(job_events) == len(events)
    assert (result.artifact_dir / "rc").read_text() == "2"


def test_real_run_limit_tags_and_check(runs_in_tmp: Path) -> None:
    events: list[dict[str, Any]] = []
    result = run_playbook(
        FIXTURES / "mixed.yml",
        HOSTS,
        limit="h1",
        tags=None,
        check=True,
        diff=True,
        on_event=lambda e: events.append(dict(e)),
    )
    assert result.stats is not None
    counts = stats_counts(result.stats)
    assert set(counts) == {"h1"}
    assert counts["h1"].changed == 0, "--check reached ansible-playbook"
    command = json.loads((result.artifact_dir / "command").read_text())["command"]
    assert "--check" in command
    assert "--diff" in command
    assert command[command.index("--limit") + 1] == "h1"
    assert command[command.index("-i") + 1] == HOSTS


def test_unreachable_host_gives_rc_4() -> None:
    result = run_playbook(
        FIXTURES / "unreachable.yml",
        str(FIXTURES / "unreachable_hosts.yml"),
        limit=None,
        tags=None,
        check=False,
        diff=False,
        on_event=lambda e: None,
    )
    assert result.rc == 4
    assert result.stats is not None
    assert result.stats["dark"] == {"h4": 1}


def test_ctrl_c_stops_ansible_and_its_module_processes() -> None:
    assert leftover_sleeps() == [], "a previous run left a sleep behind"
    interrupted_at: list[float] = []

    def on_event(event: Any) -> None:
        # Ctrl-C arrives on the consumer's thread once the slow task runs on every host.
        if event["event"] == "runner_on_start" and event["event_data"]["host"] == "h3":
            deadline = time.monotonic() + 5
            while len(leftover_sleeps()) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)  # the module processes are still starting
            assert len(leftover_sleeps()) == 3
            interrupted_at.append(time.monotonic())
            raise KeyboardInterrupt

    result = run_playbook(
        FIXTURES / "slow.yml",
        HOSTS,
        limit=None,
        tags=None,
        check=False,
        diff=False,
        on_event=on_event,
    )
    stopped_in = time.monotonic() - interrupted_at[0]
    assert result.canceled
    assert result.rc == 99, "ansible-playbook exited on its own after SIGINT"
    assert stopped_in < 5, f"cancel took {stopped_in:.1f}s"
    assert result.stats is None
    assert "User interrupted execution" in result.log_path.read_text(encoding="utf-8")
    deadline = time.monotonic() + 3
    while leftover_sleeps() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover_sleeps() == [], "the module processes were stopped too"


def test_exception_in_consumer_stops_the_run_and_propagates() -> None:
    def on_event(event: Any) -> None:
        if event["event"] == "runner_on_start" and event["event_data"]["host"] == "h3":
            deadline = time.monotonic() + 5
            while len(leftover_sleeps()) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            raise RuntimeError("view broke")

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="view broke"):
        run_playbook(
            FIXTURES / "slow.yml",
            HOSTS,
            limit=None,
            tags=None,
            check=False,
            diff=False,
            on_event=on_event,
        )
    # The module sleeps 37 s: returning well before that means the run was killed, not waited for.
    assert time.monotonic() - t0 < 30
    deadline = time.monotonic() + 3
    while leftover_sleeps() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover_sleeps() == [], "killing the run killed the workers' sessions too"


# --- pieces -------------------------------------------------------------------------------


def test_canceller_interrupts_a_session_leader_then_escalates() -> None:
    # A shell that started this run in the background left SIGINT ignored, and children
    # inherit that: give the target the default disposition a playbook run has.
    proc = subprocess.Popen(
        ["sleep", "30"],
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    try:
        canceller = ansible_run._Canceller(grace=0.3)
        canceller.pid = proc.pid
        assert canceller() is False
        canceller.request()
        assert proc.wait(timeout=5) == -signal.SIGINT
        assert canceller() is False, "inside the grace period runner must not kill yet"
        time.sleep(0.4)
        assert canceller() is True
    finally:
        proc.kill()
        proc.wait()


def test_canceller_without_a_safe_pid_cancels_at_once() -> None:
    unknown = ansible_run._Canceller()
    unknown.request()
    assert unknown() is True
    not_leader = ansible_run._Canceller()
    not_leader.pid = os.getpid() if os.getsid(0) != os.getpid() else 1
    not_leader.request()
    assert not_leader() is True
    again = ansible_run._Canceller(grace=60)
    again.pid = 2**22 + 7  # above pid_max's default: no such process
    again.request()
    assert again() is True


def test_missing_inputs_are_bad_input(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"limit": None, "tags": None, "check": False, "diff": False}
    with pytest.raises(BadInput, match="inventory not found"):
        run_playbook(FIXTURES / "mixed.yml", str(tmp_path / "nope"), on_event=print, **kwargs)
    with pytest.raises(BadInput, match="playbook not found"):
        run_playbook(tmp_path / "nope.yml", HOSTS, on_event=print, **kwargs)
    with pytest.raises(BadInput, match="vault password file not found"):
        run_playbook(
            FIXTURES / "mixed.yml",
            HOSTS,
            vault_password_file=tmp_path / "pw",
            on_event=print,
            **kwargs,
        )


def test_cmdline_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert ansible_run._cmdline(False, False, None) == ""
    assert ansible_run._cmdline(True, True, Path("my vault")) == (
        f"--check --diff --vault-password-file '{tmp_path / 'my vault'}'"
    )
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", "rel/pw")
    env = ansible_run._envvars(None)
    assert env["ANSIBLE_VAULT_PASSWORD_FILE"] == str(tmp_path / "rel" / "pw")
    assert env["ANSIBLE_CONFIG"] == str(paths.ANSIBLE_CFG)
    assert env["ANSIBLE_ROLES_PATH"] == str(paths.ROLES)
    assert "ANSIBLE_VAULT_PASSWORD_FILE" not in ansible_run._envvars(Path("x"))


def test_run_dirs_are_unique_within_a_second(runs_in_tmp: Path) -> None:
    first, second = new_run_dir(), new_run_dir()
    assert first != second
    assert first.parent == second.parent == runs_in_tmp
    assert second.name.startswith(first.name[:15])


def test_run_dir_that_cannot_be_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CLUSTERCTL_RUNS", str(blocker / "runs"))
    with pytest.raises(ClusterctlError, match="cannot create a run directory"):
        new_run_dir()


def test_resolve_playbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "PLAYBOOKS", tmp_path)
    (tmp_path / "site.yml").write_text("---\n")
    (tmp_path / "database.yml").write_text("---\n")
    assert resolve_playbook("database") == tmp_path / "database.yml"
    assert resolve_playbook("site.yml") == tmp_path / "site.yml"
    with pytest.raises(
        BadInput, match=r"unknown playbook 'edge'.*available: database.yml, site.yml"
    ):
        resolve_playbook("edge")
    with pytest.raises(BadInput):
        resolve_playbook("../site.yml")


# --- clusterctl deploy --------------------------------------------------------------------


class FakeRun:
    """Stands in for run_playbook: replays a recording and returns a chosen outcome."""

    def __init__(self, run_dir: Path, rc: int = 0, canceled: bool = False) -> None:
        self.run_dir = run_dir
        self.rc = rc
        self.canceled = canceled
        self.calls: list[tuple[Path, str, dict[str, Any]]] = []

    def __call__(self, playbook: Path, inventory: str, **kwargs: Any) -> PlaybookResult:
        self.calls.append((playbook, inventory, kwargs))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        kwargs["on_start"](self.run_dir)
        lines = (FIXTURES / "mixed.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines:
            kwargs["on_event"](json.loads(line))
        return PlaybookResult(
            rc=self.rc,
            status="canceled" if self.canceled else ("successful" if self.rc == 0 else "failed"),
            canceled=self.canceled,
            run_dir=self.run_dir,
            log_path=self.run_dir / "deploy.log",
            artifact_dir=self.run_dir / "artifacts" / "deploy",
            stats=None,
            elapsed=1.0,
        )


@pytest.fixture
def deploy_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "site.yml").write_text("---\n")
    (playbooks / "database.yml").write_text("---\n")
    monkeypatch.setattr(paths, "PLAYBOOKS", playbooks)
    inventory = tmp_path / "inv"
    inventory.mkdir()
    checked: list[tuple[str, str | None]] = []

    def check_inventory(source: str, vault_password_file: str | None = None) -> None:
        checked.append((source, vault_password_file))

    monkeypatch.setattr("clusterctl.validate.check_inventory", check_inventory)
    return {"inventory": str(inventory), "checked": checked, "run_dir": tmp_path / "runs" / "r1"}


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeRun) -> None:
    monkeypatch.setattr(ansible_run, "run_playbook", fake)


@pytest.mark.parametrize("rc", [0, 2, 4])
def test_deploy_exit_code_is_ansibles(
    rc: int, deploy_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRun(deploy_env["run_dir"], rc=rc)
    use_fake(monkeypatch, fake)
    res = CliRunner().invoke(main, ["deploy", "-i", deploy_env["inventory"]])
    assert res.exit_code == rc, res.output
    assert res.output.count(f"run directory: {deploy_env['run_dir']}") == 2
    assert "PLAY [Mixed results]" in res.output
    assert "no recap from Ansible" not in res.output
    assert "PLAY RECAP" in res.output
    assert deploy_env["checked"] == [(deploy_env["inventory"], None)]
    playbook, inventory, kwargs = fake.calls[0]
    assert playbook == paths.PLAYBOOKS / "site.yml"
    assert inventory == deploy_env["inventory"]
    assert (kwargs["check"], kwargs["diff"], kwargs["limit"], kwargs["tags"]) == (
        False,
        False,
        None,
        None,
    )


def test_deploy_passes_options(
    deploy_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeRun(deploy_env["run_dir"])
    use_fake(monkeypatch, fake)
    vault = tmp_path / "pw"
    args = ["deploy", "-i", deploy_env["inventory"], "--limit", "db*", "--tags", "mariadb"]
    args += ["--skip-tags", "slow", "--check", "--diff", "--playbook", "database"]
    args += ["--vault-password-file", str(vault)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    playbook, _, kwargs = fake.calls[0]
    assert playbook == paths.PLAYBOOKS / "database.yml"
    assert kwargs["limit"] == "db*"
    assert (kwargs["tags"], kwargs["skip_tags"]) == ("mariadb", "slow")
    assert kwargs["check"] and kwargs["diff"]
    assert kwargs["vault_password_file"] == vault
    assert deploy_env["checked"] == [(deploy_env["inventory"], str(vault))]


def test_deploy_missing_inventory(
    deploy_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRun(deploy_env["run_dir"])
    use_fake(monkeypatch, fake)
    res = CliRunner().invoke(main, ["deploy", "-i", "/nonexistent/inventory"])
    assert res.exit_code == 2
    assert res.output.strip() == "error: inventory not found: /nonexistent/inventory"
    assert fake.calls == [] and deploy_env["checked"] == []


def test_deploy_unknown_playbook(
    deploy_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRun(deploy_env["run_dir"])
    use_fake(monkeypatch, fake)
    res = CliRunner().invoke(main, ["deploy", "-i", deploy_env["inventory"], "--playbook", "nope"])
    assert res.exit_code == 2
    assert "unknown playbook 'nope'" in res.output
    assert fake.calls == []


def test_deploy_stops_on_invalid_inventory(
    deploy_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRun(deploy_env["run_dir"])
    use_fake(monkeypatch, fake)

    def invalid(source: str, vault_password_file: str | None = None) -> None:
        raise ClusterctlError(f"inventory {source} is not valid (1 problem(s)):\n  vip: bad")

    monkeypatch.setattr("clusterctl.validate.check_inventory", invalid)
    res = CliRunner().invoke(main, ["deploy", "-i", deploy_env["inventory"]])
    assert res.exit_code == 1
    assert "is not valid" in res.output
    assert fake.calls == [], "nothing runs against an invalid cluster"


def test_deploy_ctrl_c(deploy_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(deploy_env["run_dir"], rc=99, canceled=True)
    use_fake(monkeypatch, fake)
    res = CliRunner().invoke(main, ["deploy", "-i", deploy_env["inventory"]])
    assert res.exit_code == 130
    last = res.output.strip().splitlines()[-1]
    assert last == f"error: deploy canceled (Ctrl-C); run directory: {deploy_env['run_dir']}"
