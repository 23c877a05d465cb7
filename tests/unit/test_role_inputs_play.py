"""The cluster_role_inputs action plugin in a real play: the inputs become variables of the
host, runtime groups and earlier inputs do not upset the model, a bad request fails the task.

Runs the venv's ansible-playbook with a local connection over inventory/example; the plugin
never connects to a host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

PLAY = [
    {
        "name": "Role inputs",
        "hosts": "sip_edge:probes",
        "gather_facts": False,
        "connection": "local",
        "tasks": [
            {"name": "common", "cluster_role_inputs": {"roles": ["common"]}},
            # A runtime group, as database.yml makes: not the inventory's, ignored.
            {"name": "group", "ansible.builtin.group_by": {"key": "runtime_tier"},
             "changed_when": False},
            {"name": "edge", "cluster_role_inputs": {"roles": ["sip_edge", "keepalived"]},
             "when": "inventory_hostname in groups['sip_edge']"},
            # Every edge host now has sip_edge_engine and the like as facts: the model must
            # not read them as misspelt settings (edge.yml runs serial: 1).
            {"name": "edge again", "cluster_role_inputs": {"roles": ["sip_edge"]},
             "when": "inventory_hostname in groups['sip_edge']"},
            {"name": "seen", "ansible.builtin.debug": {"msg": {
                "port": "{{ common_edge_management_port }}",
                "vip": "{{ sip_edge_vip | default('') }}",
                "priority": "{{ keepalived_priority | default(0) }}",
            }}},
            {"name": "unknown role", "cluster_role_inputs": {"roles": ["sipp_standin"]},
             "ignore_errors": True},
        ],
    }
]


def run(tmp_path: Path) -> dict[str, Any]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(PLAY), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ACTION_PLUGINS": str(REPO_ROOT / "playbooks" / "action_plugins"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-i", str(REPO_ROOT / "inventory" / "example"),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.stdout.lstrip().startswith("{"), done.stdout + done.stderr
    report = json.loads(done.stdout)
    return {task["task"]["name"]: task["hosts"] for task in report["plays"][0]["tasks"]}


def test_inputs_are_the_hosts_variables(tmp_path: Path) -> None:
    tasks = run(tmp_path)
    edge = tasks["edge"]["edge2"]
    assert edge["changed"] is False
    assert edge["ansible_facts"]["sip_edge_vip"] == "10.20.0.10"
    assert tasks["edge again"]["edge1"]["ansible_facts"]["sip_edge_engine"] == "opensips"
    assert tasks["seen"]["edge2"]["msg"] == {"port": 8888, "vip": "10.20.0.10", "priority": 100}
    assert tasks["seen"]["probe1"]["msg"] == {"port": 8888, "vip": "", "priority": 0}
    failed = tasks["unknown role"]["edge1"]
    assert failed["failed"] is True
    assert "no computed inputs for role 'sipp_standin'" in failed["msg"]
