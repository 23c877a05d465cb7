"""What the web tier deploys of the configuration service (clusterctl/confsvc/files.py) and
the config check its role runs before a config file replaces the old one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from clusterctl.confsvc.config import main as check_config
from clusterctl.confsvc.files import service_files

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "confsvc" / "confsvc.yml"


def test_the_service_files_are_the_services_modules_only() -> None:
    dests = [dest for _, dest in service_files()]
    assert "clusterctl/confsvc/wsgi.py" in dests
    assert "clusterctl/db/connect.py" in dests  # imported by the pool
    assert "clusterctl/__init__.py" in dests  # every package on the way
    # Nothing of the CLI, Ansible or the drills goes to the web nodes.
    assert not [d for d in dests if d.startswith(("clusterctl/drills", "clusterctl/lab"))]
    assert "clusterctl/cli.py" not in dests
    assert dests == sorted(set(dests))


def test_the_copied_files_alone_import_the_application(tmp_path: Path) -> None:
    # As on a web node: only these files on the path (-I: no site directory of this checkout,
    # no PYTHONPATH), the third-party modules from the interpreter's own site-packages.
    lib = tmp_path / "lib"
    for src, dest in service_files():
        target = lib / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import clusterctl.confsvc.app, clusterctl.confsvc.config; "
        "print(clusterctl.confsvc.app.__file__)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(lib)], capture_output=True,
                          text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(lib))


def test_the_config_check_accepts_the_example_and_names_what_is_wrong(tmp_path: Path,
                                                                      capsys) -> None:
    assert check_config([str(EXAMPLE)]) == 0
    bad = yaml.safe_load(EXAMPLE.read_text())
    bad["edge"]["vip"] = "not-an-address"
    path = tmp_path / "confsvc.yml"
    path.write_text(yaml.safe_dump(bad))
    assert check_config([str(path)]) == 1
    assert "edge.vip" in capsys.readouterr().err
    assert check_config([]) == 2
