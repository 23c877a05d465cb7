"""``clusterctl init DIR``: a starter inventory to edit.

It is a copy of the commented example inventory (``inventory/example``, carried in the wheel)
plus ``group_vars/all/vault.yml``, which lists every secret the settings refer to with an
empty value: ``clusterctl validate`` names each one still empty until it is filled.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from clusterctl import paths
from clusterctl.errors import BadInput
from clusterctl.model import SECRET_KEYS

EXAMPLE = paths.ANSIBLE_ROOT / "inventory" / "example"
VAULT_FILE = Path("group_vars") / "all" / "vault.yml"

_VAULT_HEADER = """\
---
# The cluster's secrets. The settings refer to them ("{{ vault_db_root_password }}").
# 1. Fill every value, e.g. with `openssl rand -base64 24` (vault_edge_auth_secret: 16 or
#    more of A-Za-z0-9._~+/=-; vault_fs_esl_password: 12 or more of them).
# 2. Encrypt this file: ansible-vault encrypt group_vars/all/vault.yml
# 3. Give clusterctl the vault password: --vault-password-file FILE (or
#    ANSIBLE_VAULT_PASSWORD_FILE).
# `clusterctl validate` names every value still empty.
"""


def vault_template() -> str:
    """group_vars/all/vault.yml of a starter inventory: every secret, empty."""
    return _VAULT_HEADER + "".join(f'vault_{key}: ""\n' for key in SECRET_KEYS)


def write_starter(target: Path) -> list[Path]:
    """Write the starter inventory into ``target``; return the files written.

    Raises BadInput when ``target`` exists and is not an empty directory (nothing is
    overwritten), or when it cannot be written.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadInput(f"{target}: exists and is not an empty directory; choose a new one")
    try:
        shutil.copytree(EXAMPLE, target, dirs_exist_ok=True)
        vault = target / VAULT_FILE
        fd = os.open(vault, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(vault_template())
    except OSError as exc:
        raise BadInput(f"{target}: cannot write the starter inventory: {exc.strerror}") from exc
    return sorted(p for p in target.rglob("*") if p.is_file())
