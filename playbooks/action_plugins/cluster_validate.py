"""Action plugin: the cluster inventory check as the first play of every playbook.

It calls the same ``clusterctl.validate`` code as ``clusterctl validate``, on the same raw
(untemplated) host variables, so people running ``ansible-playbook`` directly are stopped by
exactly the problems the CLI reports.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

try:
    from clusterctl.dropped import dropped_values
    from clusterctl.validate import validate_data
except ImportError:  # ansible-playbook run from a Python without clusterctl installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    try:
        from clusterctl.dropped import dropped_values
        from clusterctl.validate import validate_data
    except ImportError as exc:
        validate_data = None
        _IMPORT_ERROR = str(exc)


class ActionModule(ActionBase):
    """Fails with every inventory problem listed; never connects to a host."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if validate_data is None:
            result.update(
                failed=True,
                msg=f"cannot import clusterctl ({_IMPORT_ERROR}): run `pip install -e .` "
                "from the repository in the Python that runs ansible-playbook",
            )
            return result
        hostvars = task_vars["hostvars"]
        raw = {name: dict(hostvars.raw_get(name)) for name in hostvars}
        groups = {name: list(members) for name, members in task_vars["groups"].items()}
        problems, _code = validate_data(groups, raw)
        # What Ansible already dropped while loading the inventory (`clusterctl validate`
        # refuses it before loading).
        dropped = [
            str(d)
            for source in task_vars.get("ansible_inventory_sources", [])
            for d in dropped_values(Path(source))
        ]
        result["changed"] = False
        if problems or dropped:
            result["failed"] = True
            listed = dropped + [str(p) for p in problems]
            result["problems"] = listed
            result["msg"] = (
                f"inventory is not valid ({len(listed)} problem(s)): " + "; ".join(listed)
            )
        else:
            result["msg"] = f"inventory is valid: {len(raw)} hosts"
            # Later validate plays of the same run skip: by then plays may have added runtime
            # groups (group_by) that are not the inventory's.
            result["ansible_facts"] = {"cluster_inventory_valid": True}
        return result
