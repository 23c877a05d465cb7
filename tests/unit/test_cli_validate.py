"""`clusterctl validate` through click's CliRunner: exit codes, stdout summary, stderr problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clusterctl.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def validate(*args: str) -> Result:
    return CliRunner().invoke(main, ["validate", *args])


def assert_clean(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_example_is_valid():
    result = validate("-i", str(REPO_ROOT / "inventory" / "example"))
    assert_clean(result)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.strip().endswith(
        "is valid: 11 hosts, 2 shards, 3 tenants, edge engine opensips, database master_master"
    )


def test_summary_follows_the_inventory(edit_yaml):
    inv = edit_yaml("group_vars/all/cluster.yml", lambda d: d.update(edge_engine="kamailio"))
    result = validate("-i", str(inv))
    assert result.exit_code == 0
    assert f"inventory {inv} is valid:" in result.stdout
    assert "edge engine kamailio" in result.stdout


def _children(d: Any) -> dict[str, Any]:
    return d["all"]["children"]


# (file, mutation, exit code, a line stderr must contain)
BAD = {
    "topology-vrrp": (
        "hosts.yml",
        lambda d: _children(d)["sip_edge"]["hosts"].pop("edge2"),
        1,
        "vrrp instance edge: group sip_edge has 1 host(s); a VRRP pair needs exactly 2",
    ),
    "topology-tenant": (
        "group_vars/all/tenants.yml",
        lambda d: d["tenants"][0].update(shard="shard5"),
        1,
        "tenant acme: shard 'shard5' does not exist",
    ),
    "topology-galera": (
        "group_vars/all/database.yml",
        lambda d: d.update(db_topology="galera"),
        1,
        "group databases: galera with 2 node(s) cannot keep quorum",
    ),
    "unknown-group": (
        "hosts.yml",
        lambda d: _children(d).update(sip_egde=_children(d).pop("sip_edge")),
        2,
        "group sip_egde: unknown group (fix: did you mean 'sip_edge'?)",
    ),
    "wrong-type": (
        "group_vars/all/cluster.yml",
        lambda d: d["vrrp_instances"][0].update(router_id=300),
        2,
        "vrrp_instances[0].router_id: Input should be less than or equal to 255",
    ),
    "unknown-key": (
        "group_vars/all/tenants.yml",
        lambda d: d["tenants"][2].update(colour="blue"),
        2,
        "tenant initech: tenants[2].colour: unknown key",
    ),
    "unsafe-name": (
        "group_vars/all/tenants.yml",
        lambda d: d["tenants"][1].update(name="Globex'; --"),
        2,
        "tenant globex: tenants[1].name: String should match pattern",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_inventory_exit_code_and_stderr(edit_yaml, case):
    relative, mutate, code, line = BAD[case]
    inv = edit_yaml(relative, mutate)
    result = validate("-i", str(inv))
    assert_clean(result)
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: inventory {inv} is not valid (1 problem(s)):"
    assert len(lines) == 2
    assert line in lines[1]


def test_several_problems_are_all_listed(edit_yaml):
    edit_yaml("group_vars/all/tenants.yml", lambda d: d["tenants"][0].update(shard="shard5"))
    inv = edit_yaml("group_vars/all/database.yml", lambda d: d.pop("db_cdr_password"))
    result = validate("-i", str(inv))
    assert result.exit_code == 1
    assert "(2 problem(s))" in result.stderr
    assert "tenant acme: shard 'shard5'" in result.stderr
    assert "db_cdr_password: is required (there is no default)" in result.stderr


def test_structural_problems_win_over_topology(edit_yaml):
    # A model that cannot be built is not checked for topology: exit 2, only the structure.
    edit_yaml("hosts.yml", lambda d: _children(d)["sip_edge"]["hosts"].pop("edge2"))
    inv = edit_yaml("group_vars/all/cluster.yml", lambda d: d.update(edge_engine="asterisk"))
    result = validate("-i", str(inv))
    assert result.exit_code == 2
    assert "edge_engine: Input should be 'opensips' or 'kamailio'" in result.stderr
    assert "sip_edge has 1 host" not in result.stderr


def test_missing_inventory_is_one_line(tmp_path):
    result = validate("-i", str(tmp_path / "absent"))
    assert_clean(result)
    assert result.exit_code == 2
    assert result.stderr == f"error: inventory {tmp_path / 'absent'}: no such file or directory\n"


def test_malformed_yaml_is_one_line(inventory_copy):
    hosts = inventory_copy / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("probes:", "probes: [", 1))
    result = validate("-i", str(inventory_copy))
    assert_clean(result)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert str(hosts) in result.stderr


def test_missing_vault_password_is_one_line(inventory_copy):
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    vault = VaultLib([("default", VaultSecret(b"pw"))])
    vaulted = inventory_copy / "group_vars/all/vault.yml"
    vaulted.write_bytes(vault.encrypt("vault_db_root_password: x\n"))
    result = validate("-i", str(inventory_copy))
    assert_clean(result)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert f"{vaulted}:" in result.stderr


def test_inventory_option_is_required():
    result = validate()
    assert result.exit_code == 2
    assert "Missing option '-i'" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = CliRunner().invoke(main, ["--debug", "validate", "-i", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "error: inventory" in result.stderr
