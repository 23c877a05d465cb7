"""ensure_engine: what it installs and starts, and when it refuses (no real apt or dockerd)."""

from __future__ import annotations

import pytest

from clusterctl.errors import BadInput
from clusterctl.lab import engine


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A fake machine: which binaries exist, whether the engine answers, what was done."""
    state: dict[str, object] = {"binaries": set(), "answers": False, "installed": [],
                                "started": 0}

    def which(name: str) -> str | None:
        return f"/usr/bin/{name}" if name in state["binaries"] else None  # type: ignore[operator]

    def install(packages: list[str]) -> None:
        state["installed"] = list(packages)
        state["binaries"] |= {"dockerd", "debootstrap"}  # type: ignore[operator]

    def start() -> None:
        state["started"] = int(state["started"]) + 1  # type: ignore[call-overload]
        state["answers"] = True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(engine.shutil, "which", which)
    monkeypatch.setattr(engine, "engine_answers", lambda: bool(state["answers"]))
    monkeypatch.setattr(engine, "_install", install)
    monkeypatch.setattr(engine, "_start_dockerd", start)
    return state


def test_fresh_machine_without_permission_is_refused_naming_the_packages(host):
    with pytest.raises(BadInput, match=r"docker\.io, debootstrap not installed.*--install-engine"):
        engine.ensure_engine(False)
    assert host["installed"] == [] and host["started"] == 0


def test_fresh_machine_with_permission_installs_both_and_starts(host):
    assert engine.ensure_engine(True) == "installed docker.io, debootstrap; started"
    assert host["installed"] == ["docker.io", "debootstrap"]
    assert host["started"] == 1


def test_ci_variable_gives_permission(host, monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert engine.ensure_engine(False).startswith("installed")


def test_installed_but_stopped_engine_is_started_only(host):
    host["binaries"] = {"dockerd", "debootstrap"}
    assert engine.ensure_engine(True) == "started"
    assert host["installed"] == []


def test_running_engine_and_tools_are_left_alone(host):
    host["binaries"] = {"dockerd", "debootstrap"}
    host["answers"] = True
    assert engine.ensure_engine(False) == "running"
    assert host["started"] == 0


def test_missing_debootstrap_alone_is_installed(host):
    host["binaries"] = {"dockerd"}
    host["answers"] = True
    assert engine.ensure_engine(True) == "installed debootstrap"
    assert host["installed"] == ["debootstrap"]
