"""Find what Ansible would silently drop from an inventory's YAML files.

Ansible merges an inventory with "the last one wins" and at most a warning (which the loader
swallows): a key given twice in one mapping, a host given the same variable twice in the hosts
file or again in ``host_vars/``, a variable set for one group in two vars files (two files of
``group_vars/all/`` both setting ``tenants``: one list replaces the other). Each is reported
with both places (``file:line``), never with the values (they may be secrets).

The files are scanned as YAML node trees (``yaml.compose``), not loaded: that keeps every key
and its line, and needs no constructor for Ansible's tags (``!vault``, ``!unsafe``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

# What Ansible's yaml inventory and host_group_vars plugins read (besides files without an
# extension in group_vars/ and host_vars/).
_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_VAULT_HEADER = "$ANSIBLE_VAULT"


@dataclass(frozen=True)
class Dropped:
    """A value Ansible would drop: where it is, what it is, and where the other one is."""

    where: str
    what: str
    other: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what} (also at {self.other}); only one of them would be used"


def _place(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _compose(path: Path) -> yaml.Node | None:
    """The file's YAML node tree; None for a vault-encrypted, unreadable or malformed file
    (Ansible itself reports those, or decrypts them with the vault password)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if text.lstrip().startswith(_VAULT_HEADER):
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):  # RecursionError: absurdly deep nesting
        return None


def _items(node: yaml.Node | None) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping with scalar keys; nothing for other nodes."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                yield str(key.value), key, value


def _same(a: yaml.Node, b: yaml.Node) -> bool:
    """Same YAML content (ignoring where it was written)."""
    if isinstance(a, yaml.ScalarNode) and isinstance(b, yaml.ScalarNode):
        return bool(a.tag == b.tag and a.value == b.value)
    if isinstance(a, yaml.SequenceNode) and isinstance(b, yaml.SequenceNode):
        return len(a.value) == len(b.value) and all(map(_same, a.value, b.value))
    if isinstance(a, yaml.MappingNode) and isinstance(b, yaml.MappingNode):
        return len(a.value) == len(b.value) and all(
            _same(ka, kb) and _same(va, vb)
            for (ka, va), (kb, vb) in zip(a.value, b.value, strict=True)
        )
    return False


def duplicate_keys(path: Path, node: yaml.Node | None) -> Iterator[Dropped]:
    """Keys given twice in one mapping, at any depth of ``node`` (read from ``path``).

    Walks with a stack, each node once: YAML aliases share nodes, and a hostile file nesting
    aliases ("billion laughs") must not make the walk exponential.
    """
    stack = [node]
    visited: set[int] = set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
            continue
        seen: dict[str, yaml.Node] = {}
        children = []
        for key, key_node, value in _items(current):
            if key in seen and key != "<<":
                yield Dropped(
                    _place(path, key_node), f"key '{key}' is given twice", _place(path, seen[key])
                )
            seen.setdefault(key, key_node)
            children.append(value)
        stack.extend(reversed(children))


class _Assignments:
    """Who sets which variable where: (owner, variable) -> first (place, value node)."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], tuple[str, yaml.Node]] = {}

    def add(
        self, owner: str, path: Path, vars_node: yaml.Node | None, *, same_ok: bool
    ) -> Iterator[Dropped]:
        """Record ``vars_node``'s variables for ``owner``; report those set before.

        With ``same_ok`` a repeat with the same value is not reported (a host listed under
        two groups with the same variables loses nothing).
        """
        within: set[str] = set()
        for key, key_node, value in _items(vars_node):
            if key in within:  # a duplicate key of this mapping: duplicate_keys reports it
                continue
            within.add(key)
            where = _place(path, key_node)
            earlier = self.first.get((owner, key))
            if earlier is None:
                self.first[(owner, key)] = (where, value)
            elif not (same_ok and _same(earlier[1], value)):
                yield Dropped(where, f"{owner}: '{key}' is set again", earlier[0])


def _group_tree(
    path: Path, name: str, node: yaml.Node, seen: _Assignments
) -> Iterator[Dropped]:
    """One group of a YAML hosts file: its hosts' variables, its vars, its children."""
    for key, _key_node, value in _items(node):
        if key == "hosts":
            for host, _host_node, host_vars in _items(value):
                yield from seen.add(f"host {host}", path, host_vars, same_ok=True)
        elif key == "vars":
            yield from seen.add(f"group {name}", path, value, same_ok=False)
        elif key == "children":
            for child, _child_node, child_tree in _items(value):
                yield from _group_tree(path, child, child_tree, seen)


def _vars_files(base: Path) -> Iterator[tuple[str, Path]]:
    """(owner, file) of every group_vars/host_vars file Ansible reads under ``base``."""
    for folder, kind in (("group_vars", "group"), ("host_vars", "host")):
        root = base / folder
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                files = sorted(p for p in entry.rglob("*") if p.is_file())
                name = entry.name
            else:
                files = [entry]
                name = entry.stem if entry.suffix in _YAML_SUFFIXES else entry.name
            for file in files:
                if file.name.startswith(".") or file.suffix not in (*_YAML_SUFFIXES, ""):
                    continue
                yield f"{kind} {name}", file


def dropped_values(source: Path) -> list[Dropped]:
    """Everything Ansible would drop from the inventory at ``source`` (a directory or file)."""
    if source.is_dir():
        base = source
        hosts_files = sorted(
            p for p in source.iterdir() if p.is_file() and p.suffix in _YAML_SUFFIXES
        )
    else:
        base, hosts_files = source.parent, [source]
    found: list[Dropped] = []
    seen = _Assignments()
    for path in hosts_files:
        node = _compose(path)
        found += duplicate_keys(path, node)
        for group, _group_node, tree in _items(node):
            found += _group_tree(path, group, tree, seen)
    for owner, path in _vars_files(base):
        node = _compose(path)
        found += duplicate_keys(path, node)
        found += seen.add(owner, path, node, same_ok=False)
    return found
