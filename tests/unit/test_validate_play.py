"""playbooks/validate.yml (the first play of site.yml) reports what `clusterctl validate` does.

Runs the venv's ansible-playbook on localhost only: the action plugin never connects to a host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clusterctl.inventory import read_inventory
from clusterctl.validate import validate_data

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def play(inventory: Path) -> tuple[int, list[str], str]:
    """(exit code, problems the action plugin reported, raw output) of validate.yml."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            str(REPO_ROOT / "playbooks" / "validate.yml"),
            "-i",
            str(inventory),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    problems: list[str] = []
    if done.stdout.lstrip().startswith("{"):
        report = json.loads(done.stdout)
        for p in report["plays"]:
            for task in p["tasks"]:
                for result in task["hosts"].values():
                    problems.extend(result.get("problems", []))
    return done.returncode, problems, done.stdout + done.stderr


def cli_problems(inventory: Path) -> list[str]:
    problems, _code = validate_data(*read_inventory(str(inventory)))
    return [str(p) for p in problems]


def test_passes_on_the_example():
    code, problems, output = play(REPO_ROOT / "inventory" / "example")
    assert code == 0, output
    assert problems == []
    assert "inventory is valid: 11 hosts" in output


def test_topology_problems_match_the_cli(edit_yaml):
    edit_yaml("group_vars/all/tenants.yml", lambda d: d["tenants"][1].update(shard="shard4"))
    inv = edit_yaml(
        "group_vars/all/cluster.yml", lambda d: d["vrrp_instances"][0].update(vip="10.20.0.11")
    )
    expected = cli_problems(inv)
    assert len(expected) == 2
    code, problems, output = play(inv)
    assert code == 2, output
    assert problems == expected


def test_structural_problems_match_the_cli(edit_yaml):
    inv = edit_yaml("group_vars/all/tenants.yml", lambda d: d["tenants"][0].update(colour="red"))
    expected = cli_problems(inv)
    assert len(expected) == 1
    assert "tenant acme: tenants[0].colour: unknown key" in expected[0]
    code, problems, output = play(inv)
    assert code == 2, output
    assert problems == expected


def test_unparsable_hosts_file_fails_the_play(inventory_copy):
    hosts = inventory_copy / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("probes:", "probes: [", 1))
    code, _problems, output = play(inventory_copy)
    assert code != 0, output


def test_values_ansible_dropped_fail_the_play(inventory_copy):
    extra = inventory_copy / "group_vars" / "all" / "extra.yml"
    extra.write_text("---\ncarriers: []\n")
    code, problems, output = play(inventory_copy)
    assert code == 2, output
    [dropped] = [p for p in problems if "'carriers' is set again" in p]
    assert f"{extra}:2" in dropped
    assert str(inventory_copy / "group_vars" / "all" / "cluster.yml") in dropped
