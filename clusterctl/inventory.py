"""Read an Ansible inventory through Ansible itself and build the cluster model.

Going through Ansible's own inventory and variable managers means vault, ``group_vars``,
``host_vars`` and inventory plugins mean exactly what they mean to ``ansible-playbook``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clusterctl.dropped import dropped_values
from clusterctl.errors import BadInput
from clusterctl.model import Cluster, build_cluster, origin_of

# Fail on inventories Ansible cannot parse instead of warning and carrying on with no hosts.
# Set on Ansible's constants for the load itself: Ansible reads its configuration once, when it
# is first imported, so environment variables set after any earlier import would not count.
_STRICT_INVENTORY = ("INVENTORY_UNPARSED_IS_FAILED", "INVENTORY_ANY_UNPARSED_IS_FAILED")


@contextlib.contextmanager
def _strict_inventory() -> Iterator[None]:
    from ansible import constants  # noqa: PLC0415

    saved = {name: getattr(constants, name) for name in _STRICT_INVENTORY}
    try:
        for name in _STRICT_INVENTORY:
            setattr(constants, name, True)
        yield
    finally:
        for name, value in saved.items():
            setattr(constants, name, value)


_ORIGIN = re.compile(r"Origin: (/[^\s>]+:\d+(?::\d+)?)")


def _origin(exc: BaseException, warnings: str) -> str | None:
    """The ``file:line`` an Ansible error points at: its cause chain, its text or its warnings."""
    cause: BaseException | None = exc
    while cause is not None:
        obj = getattr(cause, "obj", None)
        if obj is not None:
            where = origin_of(obj) or (str(obj) if type(obj).__name__ == "Origin" else None)
            if where:
                return where
        cause = cause.__cause__ or cause.__context__
    found = _ORIGIN.search(str(exc)) or _ORIGIN.search(warnings)
    return found.group(1) if found else None


def _one_line(exc: Exception, warnings: str) -> str:
    """First line of Ansible's message, prefixed with the file:line it concerns."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    where = _origin(exc, warnings)
    return f"{where}: {first}" if where and where not in first else first


def _set_vault_secrets(loader: Any, vault_file: str) -> None:
    """Give ``loader`` the password in ``vault_file``; raises AnsibleError when unreadable.

    ansible-core >= 2.19 also keeps one process-wide vault context that may be set only once:
    a second load in the same process (validate, then deploy or a drill) updates it instead.
    """
    from ansible.cli import CLI  # noqa: PLC0415

    try:
        from ansible.parsing.vault import VaultSecretsContext  # noqa: PLC0415
    except ImportError:  # ansible-core < 2.19: no process-wide context
        context = None
        secrets = CLI.setup_vault_secrets(
            loader, vault_ids=[], vault_password_files=[vault_file], ask_vault_pass=False
        )
    else:
        context = VaultSecretsContext.current(optional=True)
        secrets = CLI.setup_vault_secrets(
            loader,
            vault_ids=[],
            vault_password_files=[vault_file],
            ask_vault_pass=False,
            initialize_context=context is None,
        )
    if context is not None:
        context.secrets = secrets
    loader.set_vault_secrets(secrets)


def read_inventory(
    source: str, vault_password_file: str | None = None
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Return (groups -> hosts, host -> raw variables) as Ansible sees them.

    Raises BadInput (exit code 2) for a missing inventory, malformed YAML, a vault that
    cannot be decrypted, or a value Ansible would silently drop (clusterctl.dropped); the
    message names the file (and line).
    """
    if not Path(source).exists():
        raise BadInput(f"inventory {source}: no such file or directory")
    dropped = dropped_values(Path(source))
    if dropped:
        listing = "\n  ".join(str(d) for d in dropped)
        raise BadInput(
            f"inventory {source}: {len(dropped)} value(s) Ansible would silently drop:\n  {listing}"
        )
    vault_file = vault_password_file or os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if vault_file and not Path(vault_file).is_file():
        raise BadInput(f"vault password file {vault_file}: no such file")

    # Imported here: importing Ansible is slow and reads configuration at import time.
    from ansible.errors import AnsibleError  # noqa: PLC0415
    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.vars.manager import VariableManager  # noqa: PLC0415

    loader = DataLoader()
    # Ansible prints each inventory plugin's failure as a warning; keep them for the message
    # instead of spilling them on the terminal.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), _strict_inventory():
            if vault_file:
                _set_vault_secrets(loader, vault_file)
            inventory = InventoryManager(loader=loader, sources=[source])
            variables = VariableManager(loader=loader, inventory=inventory)
            groups = {
                name: [host.name for host in group.get_hosts()]
                for name, group in inventory.groups.items()
            }
            hostvars = {
                host.name: dict(variables.get_vars(host=host, include_hostvars=False))
                for host in inventory.get_hosts()
            }
    except AnsibleError as exc:
        raise BadInput(f"inventory {source}: {_one_line(exc, captured.getvalue())}") from exc
    return groups, hostvars


def load_cluster(source: str, vault_password_file: str | None = None) -> Cluster:
    """Read ``source`` and build the model; raises BadInput or model.ModelErrors."""
    groups, hostvars = read_inventory(source, vault_password_file)
    return build_cluster(groups, hostvars)
