"""Where the repository's playbooks, roles and run directories are.

clusterctl is installed editable from a clone (see README); playbooks and roles live beside
the package, not inside it, so Ansible finds them exactly as ``ansible-playbook`` would.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = REPO_ROOT / "playbooks"
ROLES = REPO_ROOT / "roles"
ANSIBLE_CFG = REPO_ROOT / "ansible.cfg"


def runs_dir() -> Path:
    """Directory for run artefacts (deploy logs, drill reports): ``$CLUSTERCTL_RUNS`` or ./runs."""
    return Path(os.environ.get("CLUSTERCTL_RUNS", "runs")).resolve()
