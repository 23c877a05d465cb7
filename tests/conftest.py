"""Shared fixtures: a private, editable copy of the example inventory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_INVENTORY = REPO_ROOT / "inventory" / "example"

# edit(relative_file, mutate) -> inventory dir; mutate changes the loaded YAML in place (what it
# returns is ignored, so `lambda d: d.pop("key")` works).
EditYaml = Callable[[str, Callable[[Any], object]], Path]


@pytest.fixture
def inventory_copy(tmp_path: Path) -> Path:
    """A copy of inventory/example under tmp_path (the repository's copy is never touched)."""
    dest = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, dest)
    return dest


@pytest.fixture
def edit_yaml(inventory_copy: Path) -> EditYaml:
    """Load one YAML file of the copied inventory, let the test change it, write it back.

    A file that does not exist yet (``host_vars/fs1a.yml``) starts as an empty mapping.
    Comments are lost; the data is what counts.
    """

    def edit(relative: str, mutate: Callable[[Any], object]) -> Path:
        path = inventory_copy / relative
        data: Any = yaml.safe_load(path.read_text()) if path.exists() else {}
        mutate(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return inventory_copy

    return edit
