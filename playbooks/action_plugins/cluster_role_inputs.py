"""Action plugin: a role's inputs, computed by clusterctl.role_inputs from the cluster model.

``cluster_role_inputs: {roles: [sip_edge, keepalived]}`` builds the model from the raw
(untemplated) host variables, as ``cluster_validate`` does, and returns the roles' inputs for
the current host as its facts, so the roles that follow read them like any other variable.
Secrets are never among them (a playbook passes those through itself), so the result is safe
to print. Needs the inventory to be valid: the Validate play runs first.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

try:
    from clusterctl import role_inputs
    from clusterctl.errors import ClusterctlError
    from clusterctl.model import (
        IMPLICIT_GROUPS,
        KNOWN_GROUPS,
        SETTING_KEYS,
        ModelErrors,
        build_cluster,
    )
except ImportError:  # ansible-playbook run from a Python without clusterctl installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from clusterctl import role_inputs
    from clusterctl.errors import ClusterctlError
    from clusterctl.model import (
        IMPLICIT_GROUPS,
        KNOWN_GROUPS,
        SETTING_KEYS,
        ModelErrors,
        build_cluster,
    )


class ActionModule(ActionBase):
    """Sets the roles' inputs as facts of the current host; never connects to it.

    Fails with one message for an unknown role, a host outside the role's group, an invalid
    inventory, or (mariadb) a first database node whose facts were not gathered.
    """

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("roles",))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        roles = self._task.args.get("roles")
        if not isinstance(roles, list) or not roles:
            return {**result, "failed": True, "msg": "roles: give a list of role names"}
        hostvars = task_vars["hostvars"]
        # Plays may have added runtime groups (group_by); the model knows the inventory's.
        groups = {
            name: list(members)
            for name, members in task_vars["groups"].items()
            if name in KNOWN_GROUPS or name in IMPLICIT_GROUPS
        }
        # Only what the model reads: facts set earlier in the run (these inputs among them) are
        # host variables too, and would read as misspelt settings. The Validate play has
        # already checked the rest of the inventory.
        keep = (*SETTING_KEYS, "ansible_host", "shard")
        raw = {
            name: {k: v for k, v in hostvars.raw_get(name).items() if k in keep}
            for name in hostvars
        }

        def facts_of(host: str) -> Mapping[str, Any]:
            facts = hostvars[host].get("ansible_facts")
            return facts if isinstance(facts, Mapping) else {}

        host = task_vars["inventory_hostname"]
        try:
            cluster = build_cluster(groups, raw)
            facts: dict[str, Any] = {}
            for role in roles:
                facts.update(role_inputs.for_role(str(role), cluster, host, facts_of))
        except ModelErrors as exc:
            return {**result, "failed": True, "msg": f"inventory is not valid: {exc}"}
        except ClusterctlError as exc:
            return {**result, "failed": True, "msg": exc.message}
        return {**result, "changed": False, "ansible_facts": facts}
