"""Where the playbooks, roles and ansible.cfg are, and where clusterctl keeps its own files.

In a clone (an editable install) the Ansible content sits at the top of the repository, where
``ansible-playbook`` and Molecule find it too. A wheel carries the same files inside the
package, under ``clusterctl/_ansible/`` (pyproject.toml maps them there), so an installed
clusterctl works from any directory.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_ansible"
# True when running from a repository clone rather than an installed wheel.
FROM_CLONE = not (_BUNDLED / "playbooks").is_dir()
ANSIBLE_ROOT = _PACKAGE.parent if FROM_CLONE else _BUNDLED
PLAYBOOKS = ANSIBLE_ROOT / "playbooks"
ROLES = ANSIBLE_ROOT / "roles"
ANSIBLE_CFG = ANSIBLE_ROOT / "ansible.cfg"


def _home() -> Path:
    """$CLUSTERCTL_HOME; else the clone; else $XDG_DATA_HOME/clusterctl (~/.local/share)."""
    configured = os.environ.get("CLUSTERCTL_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    if FROM_CLONE:
        return ANSIBLE_ROOT
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "clusterctl"


# The lab's key, known_hosts and inventory live here (one lab per machine: the same directory
# whatever the current one is).
HOME = _home()


def runs_dir() -> Path:
    """Directory for run artefacts (deploy logs, drill reports): ``$CLUSTERCTL_RUNS`` or ./runs."""
    return Path(os.environ.get("CLUSTERCTL_RUNS", "runs")).resolve()
