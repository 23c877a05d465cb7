"""The files the web tier deploys: the configuration service and every clusterctl module it
imports, nothing else (no CLI, no Ansible, no drills).

The web nodes run the controller's own code, so the service reads the tables the way
``clusterctl provision`` writes them. The set is found by reading the imports, from the WSGI
entry point on, so a new import in the service cannot be forgotten on the web nodes.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "clusterctl"
ROOT = Path(__file__).resolve().parents[1]
ENTRY = "clusterctl.confsvc.wsgi"


def _path_of(module: str) -> Path | None:
    """The file of a clusterctl module (a package's ``__init__.py``), None when it has none."""
    base = ROOT.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The clusterctl modules a file imports (``from clusterctl.x import y`` may name a
    module y or a name in x: both are tried)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == PACKAGE
        ):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if _path_of(m) is not None}


def service_files() -> list[tuple[Path, str]]:
    """(source file, path relative to the lib directory) of every module the service needs,
    with the ``__init__.py`` of each package on the way, sorted by destination."""
    todo = [ENTRY]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        parts = module.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name in seen:
                continue
            seen.add(name)
            path = _path_of(name)
            if path is not None:
                todo.extend(_imports(path) - seen)
    files = {_path_of(m) for m in seen} - {None}
    return sorted(
        ((p, p.relative_to(ROOT.parent).as_posix()) for p in files if p is not None),
        key=lambda item: item[1],
    )
