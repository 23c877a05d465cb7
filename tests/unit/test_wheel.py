"""Issue 16 item 6: the wheel carries the Ansible content, and an installed clusterctl finds it.

Builds the wheel offline (``python -m build --no-isolation``, with the dev extras' hatchling)
into tmp_path. tests/wheel_smoke.sh installs it into a fresh venv and runs the CLI.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [m for m in ("build", "hatchling") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
         str(REPO_ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = out.glob("clusterctl-*.whl")
    return built


def test_wheel_carries_playbooks_roles_config_and_lab_recipes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "clusterctl/_ansible/playbooks/site.yml",
        "clusterctl/_ansible/playbooks/action_plugins/cluster_validate.py",
        "clusterctl/_ansible/roles/sip_edge/tasks/main.yml",
        "clusterctl/_ansible/roles/sip_edge/vars/main.yml",
        "clusterctl/_ansible/ansible.cfg",
        "clusterctl/_ansible/inventory/example/hosts.yml",
        "clusterctl/lab/recipes/host.Dockerfile",
        "clusterctl/lab/recipes/base-setup.sh",
        "clusterctl/lab/topologies/default.yml",
        "clusterctl/lab/topologies/galera.yml",
        "clusterctl/py.typed",
    ):
        assert name in names, name
    # Every role file of the repository is in the wheel, and nothing compiled or cached.
    roles = {
        f"clusterctl/_ansible/{p.relative_to(REPO_ROOT)}"
        for p in (REPO_ROOT / "roles").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert roles <= names
    assert not [n for n in names if n.endswith(".pyc") or "/.ansible/" in n]


def test_installed_layout_finds_the_bundled_content(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = ("from clusterctl import paths, validate; "
            "print(paths.FROM_CLONE, paths.PLAYBOOKS, "
            "validate.secret_pattern('sip_edge', 'sip_edge_auth_secret_pattern'))")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("CLUSTERCTL_HOME", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    from_clone, playbooks, pattern = done.stdout.split()
    assert from_clone == "False"
    assert Path(playbooks) == tmp_path / "clusterctl" / "_ansible" / "playbooks"
    assert pattern.startswith("^[A-Za-z0-9")
