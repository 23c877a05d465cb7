"""Every role's meta/argument_specs.yml against its defaults/main.yml.

One convention for all roles: every input in defaults/main.yml is an option of the spec and
repeats its default there, equal to defaults/main.yml (ansible-doc shows it; Ansible itself
takes the value from defaults/main.yml); an option with no default is `required: true`. A
default's value has the option's declared type, unless it is a template (its type is the
rendered value's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "meta/argument_specs.yml").is_file())

# Argument spec type -> the YAML values it accepts as they are (bool is not an int here).
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def spec_options(role: str) -> dict[str, dict[str, Any]]:
    return load(ROLES_DIR / role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]


def defaults(role: str) -> dict[str, Any]:
    path = ROLES_DIR / role / "defaults/main.yml"
    return (load(path) or {}) if path.is_file() else {}


def is_template(value: object) -> bool:
    return isinstance(value, str) and "{{" in value


def type_problems(name: str, option: dict[str, Any], value: object) -> list[str]:
    """Where ``value`` (or an element of it, or a sub-option default) is not of the declared
    type; templates are left to Ansible."""
    kind = option.get("type", "str")
    if is_template(value) or kind == "raw":
        return []
    if kind not in _TYPES:
        return [f"{name}: unknown type {kind!r}"]
    accepted = _TYPES[kind]
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        return [f"{name}: default {value!r} is not a {kind}"]
    problems = []
    if kind == "list" and "elements" in option:
        element = {"type": option["elements"], **({"options": option["options"]}
                                                    if "options" in option else {})}
        for index, item in enumerate(value):  # type: ignore[arg-type]
            problems += type_problems(f"{name}[{index}]", element, item)
    if kind == "dict" and "options" in option:
        for key, sub in option["options"].items():
            if key in value:  # type: ignore[operator]
                problems += type_problems(f"{name}.{key}", sub, value[key])  # type: ignore[index]
    return problems


def spec_problems(options: dict[str, dict[str, Any]], given: dict[str, Any]) -> list[str]:
    """Everything that breaks the convention, one line each."""
    problems = [f"{k}: in defaults/main.yml but not in the spec" for k in given if k not in options]
    for name, option in options.items():
        if name not in given:
            # A secret needed only in one mode (a repository token) has no default and is
            # not required: the role's preflight asserts it in that mode.
            if not option.get("required") and not option.get("no_log"):
                problems.append(f"{name}: no default in defaults/main.yml and not required")
            if "default" in option:
                problems.append(f"{name}: the spec has a default that defaults/main.yml lacks")
            continue
        if option.get("required"):
            problems.append(f"{name}: required, yet defaults/main.yml sets it")
        if "default" not in option:
            problems.append(f"{name}: the spec does not repeat its default")
        elif option["default"] != given[name]:
            problems.append(
                f"{name}: spec default {option['default']!r} != defaults/main.yml {given[name]!r}"
            )
        problems += type_problems(name, option, given[name])
        for key, sub in option.get("options", {}).items():
            if "default" in sub:
                problems += type_problems(f"{name}.{key}", sub, sub["default"])
    return problems


def test_every_role_has_a_spec() -> None:
    assert len(ROLES) == len([p for p in ROLES_DIR.iterdir() if p.is_dir()])


@pytest.mark.parametrize("role", ROLES)
def test_spec_matches_defaults(role: str) -> None:
    assert spec_problems(spec_options(role), defaults(role)) == []


@pytest.mark.parametrize(
    ("options", "given", "problem"),
    [
        ({"x_a": {"type": "int", "default": 1}}, {"x_a": 2}, "x_a: spec default 1 != "),
        ({"x_a": {"type": "int"}}, {"x_a": 2}, "x_a: the spec does not repeat its default"),
        ({"x_a": {"type": "int", "default": "2 or 3"}}, {"x_a": "2 or 3"}, "is not a int"),
        ({"x_a": {"type": "int", "default": True}}, {"x_a": True}, "is not a int"),
        ({"x_a": {"type": "list", "elements": "str", "default": [1]}}, {"x_a": [1]},
         "x_a[0]: default 1 is not a str"),
        ({}, {"x_a": 1}, "x_a: in defaults/main.yml but not in the spec"),
        ({"x_a": {"type": "str"}}, {}, "x_a: no default in defaults/main.yml and not required"),
        ({"x_a": {"type": "str", "required": True}}, {"x_a": ""}, "x_a: required, yet"),
    ],
)
def test_the_check_catches_each_break(
    options: dict[str, Any], given: dict[str, Any], problem: str
) -> None:
    assert any(problem in p for p in spec_problems(options, given))


def test_a_template_default_is_left_to_ansible() -> None:
    option = {"type": "int", "default": "{{ ansible_port | default(22) }}"}
    assert spec_problems({"x_port": option}, {"x_port": option["default"]}) == []
