"""YAML with line numbers: mappings and lists that remember where each key and item was read.

PyYAML's safe loader drops positions; here the composed node tree is turned into ``Map`` and
``Seq`` values that keep them, so every provisioning error can name ``file:line``. Duplicate
keys (which PyYAML silently resolves to the last one) are errors here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Issue:
    """One problem in a tenant file, with where it is."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class Map(dict[str, Any]):
    """A YAML mapping; ``line`` is where it starts, ``lines[key]`` where each key is."""

    line: int
    lines: dict[str, int]

    def at(self, key: str) -> int:
        """Line of ``key``, or of the mapping itself when the key is absent."""
        return self.lines.get(key, self.line)


class Seq(list[Any]):
    """A YAML sequence; ``line`` is where it starts, ``lines[i]`` where item i is."""

    line: int
    lines: list[int]


class YamlError(Exception):
    """The file is not YAML (or not the YAML we accept); ``issues`` say where."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


def load(text: str, file: str) -> Any:
    """Parse one YAML document into Map/Seq/scalars; raises YamlError with file:line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        issues: list[Issue] = []
        value = _convert(loader, node, file, issues) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        # Only the problem, never str(exc): that quotes the offending line, which may hold a
        # password.
        problem = exc.problem or "syntax error"
        raise YamlError([Issue(file, line, f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    if issues:
        raise YamlError(issues)
    return value


def _convert(loader: yaml.SafeLoader, node: yaml.Node, file: str, issues: list[Issue]) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result = Map()
        result.line, result.lines = line, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                issues.append(Issue(file, key_line, f"key {key!r} is not a string"))
                continue
            if key in result:
                issues.append(Issue(file, key_line, f"duplicate key '{key}'"))
                continue
            result[key] = _convert(loader, value_node, file, issues)
            result.lines[key] = key_line
        return result
    if isinstance(node, yaml.SequenceNode):
        seq = Seq()
        seq.line, seq.lines = line, []
        for item in node.value:
            seq.append(_convert(loader, item, file, issues))
            seq.lines.append(item.start_mark.line + 1)
        return seq
    return loader.construct_object(node, deep=True)
