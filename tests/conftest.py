"""Shared fixtures: a private, editable copy of the example inventory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_INVENTORY = REPO_ROOT / "inventory" / "example"

# edit(relative_file, mutate) -> inventory dir; mutate changes the loaded YAML in place (what it
# returns is ignored, so `lambda d: d.pop("key")` works).
EditYaml = Callable[[str, Callable[[Any], object]], Path]


@pytest.fixture
def inventory_copy(tmp_path: Path) -> Path:
    """A copy of inventory/example under tmp_path (the repository's copy is never touched)."""
    dest = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, dest)
    return dest


@pytest.fixture
def edit_yaml(inventory_copy: Path) -> EditYaml:
    """Load one YAML file of the copied inventory, let the test change it, write it back.

    A file that does not exist yet (``host_vars/fs1a.yml``) starts as an empty mapping.
    Comments are lost; the data is what counts.
    """

    def edit(relative: str, mutate: Callable[[Any], object]) -> Path:
        path = inventory_copy / relative
        data: Any = yaml.safe_load(path.read_text()) if path.exists() else {}
        mutate(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return inventory_copy

    return edit


# --- the deployed lab, shared by every `-m lab` test of one pytest session ------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip lab tests unless the marker expression selects them: a plain `pytest` must not
    spend many minutes building a lab on the machine's Docker engine."""
    if "lab" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="needs the container lab: run `pytest -m lab`")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


LAB_INVENTORY = REPO_ROOT / "inventory" / "lab"
# Figures the lab tests measure; printed when the session ends (pytest -s shows them).
LAB_FIGURES: dict[str, float] = {}


def clusterctl(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (a fresh process), capturing its output."""
    return subprocess.run([sys.executable, "-m", "clusterctl", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_stats(output: str) -> dict[str, Any]:
    """The ``playbook_on_stats`` data of the deploy whose output is ``output``.

    Read from ansible-runner's artifacts in the run directory the CLI printed.
    """
    found = re.findall(r"^run directory: (\S+)$", output, flags=re.MULTILINE)
    assert found, f"deploy printed no run directory:\n{output[-2000:]}"
    for event_file in sorted(Path(found[-1]).glob("artifacts/*/job_events/*.json")):
        event = json.loads(event_file.read_text())
        if event.get("event") == "playbook_on_stats":
            return dict(event["event_data"])
    raise AssertionError(f"no playbook_on_stats event under {found[-1]}")


def deploy(name: str, *args: str) -> dict[str, Any]:
    """``clusterctl deploy -i inventory/lab ARGS``; asserts success, returns the run's stats."""
    start = time.monotonic()
    res = clusterctl("deploy", "-i", str(LAB_INVENTORY), *args)
    LAB_FIGURES[name] = round(time.monotonic() - start, 1)
    print(res.stdout[-3000:])
    assert res.returncode == 0, f"{name} failed (rc {res.returncode}):\n{res.stderr[-3000:]}"
    return run_stats(res.stdout)


def lab_labelled() -> dict[str, list[str]]:
    """Containers, networks and volumes carrying the lab's label."""
    def names(*args: str) -> list[str]:
        out = subprocess.run(["docker", *args, "--filter", "label=org.clusterctl.lab=1",
                              "--format", "{{.Name}}" if args[0] != "ps" else "{{.Names}}"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return out.split()

    return {
        "containers": names("ps", "-a"),
        "networks": names("network", "ls"),
        "volumes": names("volume", "ls"),
    }


@pytest.fixture
def lab_deploy() -> Callable[..., dict[str, Any]]:
    """``deploy(name, *args)``: a timed ``clusterctl deploy`` of the lab returning its stats."""
    return deploy


@pytest.fixture(scope="session")
def deployed_lab() -> Iterator[Path]:
    """The lab from nothing, with the whole cluster deployed by ``clusterctl deploy``.

    At the end ``lab down`` must leave no container, network or volume of the lab behind.
    """
    down = clusterctl("lab", "down", "--keep-images")
    print("lab down before the session:", down.returncode, down.stdout.strip())
    start = time.monotonic()
    up = clusterctl("lab", "up")
    LAB_FIGURES["lab up (images cached) s"] = round(time.monotonic() - start, 1)
    print(up.stdout)
    assert up.returncode == 0, up.stderr
    stats = deploy("deploy site.yml, first run s")
    assert not stats.get("failures") and not stats.get("dark"), stats
    try:
        yield LAB_INVENTORY
    finally:
        start = time.monotonic()
        res = clusterctl("lab", "down", "--keep-images")
        LAB_FIGURES["lab down s"] = round(time.monotonic() - start, 1)
        print(res.stdout, res.stderr)
        print("lab figures:", json.dumps(LAB_FIGURES, indent=1))
        assert res.returncode == 0, res.stderr
        assert lab_labelled() == {"containers": [], "networks": [], "volumes": []}
