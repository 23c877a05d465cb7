"""One broken copy of inventory/example per validation rule, read through Ansible's API.

Each test asserts the subject (host, group, tenant, shard, setting), the message fragment and
the exit code: 2 for structural problems (types, unknown keys or groups), 1 for topology.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterctl.errors import EXIT_BAD_INPUT, EXIT_FAILED, ClusterctlError
from clusterctl.inventory import read_inventory
from clusterctl.model import DB_PASSWORD_KEYS, Problem
from clusterctl.validate import check_inventory, secret_pattern, validate_data

REPO_ROOT = Path(__file__).resolve().parents[2]

HOSTS = "hosts.yml"
CLUSTER = "group_vars/all/cluster.yml"
DATABASE = "group_vars/all/database.yml"
STORAGE = "group_vars/all/storage.yml"
TENANTS = "group_vars/all/tenants.yml"


def run(inv: Path) -> tuple[list[Problem], int]:
    groups, hostvars = read_inventory(str(inv))
    return validate_data(groups, hostvars)


def one(problems: list[Problem], where: str, fragment: str) -> Problem:
    """The single problem about ``where`` whose message contains ``fragment``."""
    found = [p for p in problems if p.where == where and fragment in p.message]
    assert len(found) == 1, f"want one {where!r} ~ {fragment!r}, got {[str(p) for p in problems]}"
    return found[0]


def line_of(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def children(doc: Any) -> dict[str, Any]:
    return doc["all"]["children"]


def keep_only(d: dict[str, Any], *keys: str) -> None:
    for key in set(d) - set(keys):
        del d[key]


def rename(d: dict[str, Any], old: str, new: str) -> None:
    """Rename a key where it stands (so its line stays in the same place)."""
    items = [((new if k == old else k), v) for k, v in d.items()]
    d.clear()
    d.update(items)


def assert_valid(inv: Path) -> None:
    problems, code = run(inv)
    assert (problems, code) == ([], 0), [str(p) for p in problems]


# --- the example itself ---------------------------------------------------------------------


def test_example_copy_is_valid(inventory_copy):
    assert_valid(inventory_copy)


# --- VRRP -------------------------------------------------------------------------------------


def test_vrrp_pair_with_one_host(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["sip_edge"]["hosts"].pop("edge2"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "vrrp instance edge", "group sip_edge has 1 host(s)")
    assert "needs exactly 2" in p.message
    assert "put exactly two hosts in group sip_edge" in p.fix
    assert len(problems) == 1


def test_vrrp_pair_with_three_hosts(edit_yaml):
    def add(d: Any) -> None:
        children(d)["sip_edge"]["hosts"]["edge3"] = {"ansible_host": "10.20.0.13"}

    problems, code = run(edit_yaml(HOSTS, add))
    assert code == EXIT_FAILED
    one(problems, "vrrp instance edge", "group sip_edge has 3 host(s)")
    assert len(problems) == 1


def _set_vip(vip: str, **extra: Any) -> Any:
    def mutate(d: Any) -> None:
        d["vrrp_instances"][0]["vip"] = vip
        d["vrrp_instances"][0].update(extra)

    return mutate


def test_vip_outside_hosts_subnet(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, _set_vip("10.30.0.10")))
    assert code == EXIT_FAILED
    one(
        problems,
        "vrrp instance edge",
        "host edge1 (10.20.0.11) is not in the VIP's subnet 10.30.0.0/24",
    )
    one(problems, "vrrp instance edge", "host edge2 (10.20.0.12) is not in the VIP's subnet")
    assert len(problems) == 2


def test_vip_outside_subnet_because_of_prefix(edit_yaml):
    # 10.20.0.10/29 is 10.20.0.8-15: edge1/edge2 (.11/.12) are in, so move the VIP to .2.
    problems, code = run(edit_yaml(CLUSTER, _set_vip("10.20.0.2", prefix=29)))
    assert code == EXIT_FAILED
    one(
        problems,
        "vrrp instance edge",
        "host edge1 (10.20.0.11) is not in the VIP's subnet 10.20.0.0/29",
    )


def test_vip_equal_to_a_host_address(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, _set_vip("10.20.0.12")))
    assert code == EXIT_FAILED
    p = one(problems, "vrrp instance edge", "VIP 10.20.0.12 is host edge2's own address")
    assert "unused address" in p.fix
    assert len(problems) == 1


def test_vip_equal_to_a_non_member_host_address(edit_yaml):
    # The VIP must be no host's address, not only the pair's.
    problems, code = run(edit_yaml(CLUSTER, _set_vip("10.20.0.51")))
    assert code == EXIT_FAILED
    one(problems, "vrrp instance edge", "VIP 10.20.0.51 is host probe1's own address")


@pytest.mark.parametrize("vip", ["10.20.0.0", "10.20.0.255"])
def test_vip_is_network_or_broadcast_address(edit_yaml, vip):
    problems, code = run(edit_yaml(CLUSTER, _set_vip(vip)))
    assert code == EXIT_FAILED
    one(
        problems,
        "vrrp instance edge",
        f"VIP {vip} is the network or broadcast address of 10.20.0.0/24",
    )
    assert len(problems) == 1


def _second_instance(
    group: str, vip: str, router_id: int, prefix: int = 24, name: str = "web", **more: str
) -> Any:
    def mutate(d: Any) -> None:
        d["vrrp_instances"].append(
            {"name": name, "group": group, "vip": vip, "prefix": prefix, "router_id": router_id,
             **more}
        )

    return mutate


def test_duplicate_router_id_on_same_interface(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, _second_instance("web", "10.20.0.40", 51)))
    assert code == EXIT_FAILED
    p = one(problems, "vrrp instances edge, web", "share router_id 51 on interface eth0")
    assert "own router_id" in p.fix
    assert len(problems) == 1


def test_duplicate_router_id_is_refused_whatever_the_prefixes_say(edit_yaml):
    # A /25 VIP network that does not contain the edge's: still the same LAN on eth0.
    inv = edit_yaml(CLUSTER, _second_instance("web", "10.20.0.140", 51, prefix=25))
    edit_yaml(HOSTS, lambda d: children(d)["web"]["hosts"].update(
        web1={"ansible_host": "10.20.0.141"}, web2={"ansible_host": "10.20.0.142"}))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "vrrp instances edge, web", "share router_id 51 on interface eth0")


def test_same_router_id_on_another_interface_is_allowed(edit_yaml):
    assert_valid(edit_yaml(CLUSTER, _second_instance("web", "10.20.0.40", 51, interface="eth1")))


def test_vrrp_instance_names_are_unique(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, _second_instance("web", "10.20.0.40", 52, name="edge")))
    assert code == EXIT_FAILED
    p = one(problems, "vrrp instance edge", "name is used by 2 instances")
    assert "unique name" in p.fix


def test_different_router_ids_on_same_network_are_allowed(edit_yaml):
    assert_valid(edit_yaml(CLUSTER, _second_instance("web", "10.20.0.40", 52)))


# --- shards -----------------------------------------------------------------------------------


def _shard(name: str, **change: str) -> Any:
    def mutate(d: Any) -> None:
        d["shards"][name].update(change)

    return mutate


def test_shard_primary_equals_secondary(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _shard("shard1", secondary="fs1a")))
    assert code == EXIT_FAILED
    p = one(problems, "shard shard1", "primary and secondary are both fs1a")
    assert "two different feature servers" in p.fix


def test_shard_host_not_a_feature_server(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _shard("shard2", secondary="web1")))
    assert code == EXIT_FAILED
    one(problems, "shard shard2", "secondary web1 is not in group feature_servers")


def test_shard_host_not_in_inventory(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _shard("shard2", primary="fs9")))
    assert code == EXIT_FAILED
    one(problems, "shard shard2", "primary fs9 is not an inventory host")


def test_host_shard_var_mismatch(edit_yaml):
    # fs1b says it belongs to shard2 while shard1 names it as secondary.
    inv = edit_yaml(
        HOSTS, lambda d: children(d)["feature_servers"]["hosts"]["fs1b"].update(shard="shard2")
    )
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "shard shard1", "secondary fs1b has shard 'shard2'")
    assert "set shard: shard1 in host_vars of fs1b" in p.fix
    assert len(problems) == 1


def test_feature_server_without_shard(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["feature_servers"]["hosts"]["fs2b"].pop("shard"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "host fs2b", "feature server without a shard")


def test_feature_server_with_unknown_shard(edit_yaml):
    inv = edit_yaml(
        HOSTS, lambda d: children(d)["feature_servers"]["hosts"]["fs2b"].update(shard="shard9")
    )
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "host fs2b", "shard 'shard9' is not defined")
    assert "shard1, shard2" in p.fix


# --- tenants ----------------------------------------------------------------------------------


def _tenant(index: int, **change: Any) -> Any:
    def mutate(d: Any) -> None:
        d["tenants"][index].update(change)

    return mutate


def test_tenant_with_unknown_shard(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _tenant(1, shard="shard3")))
    assert code == EXIT_FAILED
    p = one(problems, "tenant globex", "shard 'shard3' does not exist")
    assert "shard1, shard2" in p.fix
    assert len(problems) == 1


def test_duplicate_tenant_id(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _tenant(1, id="acme")))
    assert code == EXIT_FAILED
    dupes = [p for p in problems if p.where == "tenant acme" and "used more than once" in p.message]
    assert len(dupes) == 2
    assert len(problems) == 2


def test_duplicate_domain(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _tenant(2, domain="acme.voice.example.com")))
    assert code == EXIT_FAILED
    one(problems, "tenant acme", "domain acme.voice.example.com is used by another tenant")
    one(problems, "tenant initech", "domain acme.voice.example.com is used by another tenant")
    assert len(problems) == 2


def test_duplicate_did_across_tenants(edit_yaml):
    problems, code = run(edit_yaml(TENANTS, _tenant(2, dids=["+15550100300", "+15550100101"])))
    assert code == EXIT_FAILED
    one(problems, "tenant initech", "DID +15550100101 also belongs to tenant acme")
    assert len(problems) == 1


def test_same_did_twice_in_one_tenant_is_not_a_cross_tenant_duplicate(edit_yaml):
    assert_valid(edit_yaml(TENANTS, _tenant(1, dids=["+15550100200", "+15550100200"])))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "ac'me"),
        ("id", "acme;drop"),
        ("id", "ac me"),
        ("id", "Acme"),
        ("id", "<acme>"),
        ("name", "Acme's Corp"),
        ("name", "Acme; DROP TABLE"),
        ("name", "<script>"),
        ("name", 'Acme "Corp"'),
        ("domain", "Acme.voice.example.com"),
        ("domain", "acme.voice.example.com;"),
        ("domain", "acme voice.example.com"),
        ("domain", "acme'.example.com"),
        ("domain", "<acme>.example.com"),
    ],
)
def test_unsafe_characters_in_tenant_fields(edit_yaml, field, value):
    inv = edit_yaml(TENANTS, _tenant(0, **{field: value}))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    tenant_id = value if field == "id" else "acme"
    source = f"{inv / TENANTS}:{line_of(inv / TENANTS, field + ':')}"
    want = f"{source}: tenant {tenant_id}: tenants[0].{field}"
    found = [p for p in problems if p.where == want]
    assert len(found) == 1, [str(p) for p in problems]
    assert "should match pattern" in found[0].message


def test_unsafe_characters_are_reported_once_per_field(edit_yaml):
    inv = edit_yaml(TENANTS, _tenant(2, name="Init<ech", domain="INITECH.example.com"))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    assert sorted(p.where.rsplit(": ", 1)[-1] for p in problems) == [
        "tenants[2].domain",
        "tenants[2].name",
    ]


# --- databases --------------------------------------------------------------------------------


def _galera(arbitrator: str | None = None) -> Any:
    def mutate(d: Any) -> None:
        d["db_topology"] = "galera"
        if arbitrator:
            d["db_galera_arbitrator"] = arbitrator

    return mutate


def _add_db3(d: Any) -> None:
    children(d)["databases"]["hosts"]["db3"] = {"ansible_host": "10.20.0.33"}


def test_galera_two_nodes_without_arbitrator(edit_yaml):
    problems, code = run(edit_yaml(DATABASE, _galera()))
    assert code == EXIT_FAILED
    p = one(problems, "group databases", "galera with 2 node(s) cannot keep quorum")
    assert "db_galera_arbitrator" in p.fix
    assert len(problems) == 1


def test_galera_two_nodes_with_arbitrator(edit_yaml):
    assert_valid(edit_yaml(DATABASE, _galera("probe1")))


def test_galera_arbitrator_that_is_a_db_node(edit_yaml):
    problems, code = run(edit_yaml(DATABASE, _galera("db2")))
    assert code == EXIT_FAILED
    p = one(problems, "db_galera_arbitrator", "db2 is a database node")
    assert "outside group databases" in p.fix


def test_galera_arbitrator_not_in_inventory(edit_yaml):
    problems, code = run(edit_yaml(DATABASE, _galera("garbd9")))
    assert code == EXIT_FAILED
    one(problems, "db_galera_arbitrator", "garbd9 is not an inventory host")


def test_galera_three_nodes(edit_yaml):
    edit_yaml(HOSTS, _add_db3)
    assert_valid(edit_yaml(DATABASE, _galera()))


def test_master_master_with_one_node(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["databases"]["hosts"].pop("db2"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "group databases", "master_master needs exactly 2 nodes, found 1")
    assert "galera" in p.fix
    assert len(problems) == 1


def test_master_master_with_three_nodes(edit_yaml):
    problems, code = run(edit_yaml(HOSTS, _add_db3))
    assert code == EXIT_FAILED
    one(problems, "group databases", "master_master needs exactly 2 nodes, found 3")
    assert len(problems) == 1


def test_arbitrator_set_on_master_master(edit_yaml):
    inv = edit_yaml(DATABASE, lambda d: d.update(db_galera_arbitrator="probe1"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "db_galera_arbitrator", "is set but db_topology is master_master")
    assert len(problems) == 1


@pytest.mark.parametrize("key", DB_PASSWORD_KEYS)
def test_each_missing_db_password_is_named(edit_yaml, key):
    problems, code = run(edit_yaml(DATABASE, lambda d: d.pop(key)))
    assert code == EXIT_FAILED
    p = one(problems, key, "is required (there is no default)")
    assert "ansible-vault" in p.fix
    assert len(problems) == 1


def test_all_db_passwords_missing_names_every_key(edit_yaml):
    inv = edit_yaml(DATABASE, lambda d: keep_only(d, "db_topology"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    assert [p.where for p in problems] == list(DB_PASSWORD_KEYS)


@pytest.mark.parametrize("value", [None, "  "])
def test_edge_auth_secret_is_required_with_edges(edit_yaml, value):
    def drop(d: dict[str, Any]) -> None:
        if value is None:
            d.pop("edge_auth_secret")
        else:
            d["edge_auth_secret"] = value

    problems, code = run(edit_yaml(CLUSTER, drop))
    assert code == EXIT_FAILED
    p = one(problems, "edge_auth_secret", "is required (there is no default)")
    assert "ansible-vault" in p.fix
    assert len(problems) == 1


def test_blank_db_password_counts_as_missing(edit_yaml):
    problems, code = run(edit_yaml(DATABASE, lambda d: d.update(db_cdr_password="  ")))
    assert code == EXIT_FAILED
    one(problems, "db_cdr_password", "is required")


def test_db_passwords_not_needed_without_databases(edit_yaml):
    # No databases group: the node count is still enforced, the passwords are not asked for.
    def drop(d: Any) -> None:
        children(d).pop("databases")
        children(d)["storage"]["hosts"] = {"web1": None, "web2": None, "probe1": None}

    edit_yaml(HOSTS, drop)
    edit_yaml(STORAGE, lambda d: d.update(storage_arbiter="probe1"))
    inv = edit_yaml(DATABASE, lambda d: keep_only(d, "db_topology"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    assert [str(p) for p in problems] == [
        "group databases: master_master needs exactly 2 nodes, found 0 "
        "(fix: use 2 nodes, or db_topology: galera for 3)"
    ]


# --- storage ----------------------------------------------------------------------------------


def test_gluster_two_bricks(edit_yaml):
    edit_yaml(STORAGE, lambda d: d.update(storage_arbiter="web2"))
    inv = edit_yaml(HOSTS, lambda d: children(d)["storage"]["hosts"].pop("db1"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "group storage", "2 brick host(s); Gluster needs replica 3 or 2 + arbiter")
    assert "exactly 3 hosts" in p.fix
    assert len(problems) == 1


def test_gluster_four_bricks(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["storage"]["hosts"].update(db2=None))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "group storage", "4 brick host(s)")
    assert len(problems) == 1


def test_gluster_arbiter_not_in_storage(edit_yaml):
    problems, code = run(edit_yaml(STORAGE, lambda d: d.update(storage_arbiter="fs1a")))
    assert code == EXIT_FAILED
    one(problems, "storage_arbiter", "fs1a is not in group storage")
    assert len(problems) == 1


def test_gluster_replica_three_without_arbiter(edit_yaml):
    assert_valid(edit_yaml(STORAGE, lambda d: d.pop("storage_arbiter")))


# --- host addresses ---------------------------------------------------------------------------


def test_host_without_ansible_host(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["probes"]["hosts"].update(probe1={}))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "host probe1", "has no address")
    assert "ansible_host" in p.fix
    assert len(problems) == 1


@pytest.mark.parametrize("value", ["probe1.example.com", "10.20.0.300", "fd00::51"])
def test_ansible_host_not_an_ipv4_address(edit_yaml, value):
    inv = edit_yaml(
        HOSTS, lambda d: children(d)["probes"]["hosts"]["probe1"].update(ansible_host=value)
    )
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "host probe1", f"ansible_host '{value}' is not an IPv4 address")
    assert len(problems) == 1


def test_duplicate_addresses(edit_yaml):
    inv = edit_yaml(
        HOSTS, lambda d: children(d)["probes"]["hosts"]["probe1"].update(ansible_host="10.20.0.41")
    )
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "host probe1", "address 10.20.0.41 is also host web1's")
    assert len(problems) == 1


# --- structure: unknown keys, types, groups ---------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "right", "typo", "value_starts"),
    [
        # Ansible records where the value starts: a block list starts on the next line.
        (TENANTS, "tenants", "tenats", "- id: acme"),
        (CLUSTER, "edge_engine", "edge_engin", "edge_engin: opensips"),
    ],
)
def test_misspelt_top_level_key(edit_yaml, relative, right, typo, value_starts):
    inv = edit_yaml(relative, lambda d: rename(d, right, typo))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    where = f"{inv / relative}:{line_of(inv / relative, value_starts)}: {typo}"
    p = one(problems, where, "unknown key")
    assert p.fix == f"did you mean '{right}'?"
    # "tenats: did you mean tenants" already says tenants is missing: no second line for it.
    assert len(problems) == 1


def test_unknown_tenant_key_names_tenant_and_file_line(edit_yaml):
    inv = edit_yaml(TENANTS, _tenant(1, colour="red"))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    where = f"{inv / TENANTS}:{line_of(inv / TENANTS, 'colour:')}: tenant globex: tenants[1].colour"
    p = one(problems, where, "unknown key")
    assert "known keys: id, name, domain, shard, dids, permissions" in p.fix
    assert len(problems) == 1


def test_unknown_dispatcher_key_has_hint(edit_yaml):
    def typo(d: Any) -> None:
        d["dispatcher"]["ping_intervall"] = d["dispatcher"].pop("ping_interval")

    inv = edit_yaml(CLUSTER, typo)
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    where = (
        f"{inv / CLUSTER}:{line_of(inv / CLUSTER, 'ping_intervall:')}: dispatcher.ping_intervall"
    )
    p = one(problems, where, "unknown key")
    assert p.fix == "did you mean 'ping_interval'?"


@pytest.mark.parametrize(
    ("mutate", "where", "fragment"),
    [
        (
            lambda d: d["vrrp_instances"][0].update(prefix="abc"),
            "vrrp_instances[0].prefix",
            "valid integer",
        ),
        (
            lambda d: d["vrrp_instances"][0].update(router_id=300),
            "vrrp_instances[0].router_id",
            "less than or equal to 255",
        ),
        (
            lambda d: d["vrrp_instances"][0].update(router_id=0),
            "vrrp_instances[0].router_id",
            "greater than or equal to 1",
        ),
        (
            lambda d: d["vrrp_instances"][0].update(vip="10.20.0.300"),
            "vrrp_instances[0].vip",
            "IPv4",
        ),
        (lambda d: d.update(edge_engine="asterisk"), "edge_engine", "'opensips' or 'kamailio'"),
        (
            lambda d: d["dispatcher"].update(invite_timeout=1),
            "dispatcher.invite_timeout",
            "greater than or equal to 2",
        ),
    ],
    ids=[
        "prefix-abc",
        "router_id-300",
        "router_id-0",
        "vip-not-ip",
        "edge_engine-asterisk",
        "invite_timeout-1",
    ],
)
def test_wrong_types_and_ranges(edit_yaml, mutate, where, fragment):
    inv = edit_yaml(CLUSTER, mutate)
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    key = where.rsplit(".", 1)[-1].split("[")[0]
    want = f"{inv / CLUSTER}:{line_of(inv / CLUSTER, key + ':')}: {where}"
    p = one(problems, want, fragment)
    assert len(problems) == 1, [str(q) for q in problems]
    assert p.where.startswith(str(inv / CLUSTER))


def test_wrong_type_for_a_list_setting(edit_yaml):
    inv = edit_yaml(TENANTS, lambda d: d.update(tenants="acme"))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    assert [p.where.rsplit(": ", 1)[-1] for p in problems] == ["tenants"]
    assert "valid list" in problems[0].message


def test_unknown_group_with_hint(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d).update(sip_egde=children(d).pop("sip_edge")))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    p = one(problems, "group sip_egde", "unknown group")
    assert p.fix == "did you mean 'sip_edge'?"
    assert len(problems) == 1


def test_missing_required_setting(edit_yaml):
    inv = edit_yaml(CLUSTER, lambda d: d.pop("cluster_name"))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    one(problems, "group_vars/all: cluster_name", "required setting is missing")


def test_setting_overridden_in_host_vars(edit_yaml, inventory_copy):
    tenants = [{"id": "acme", "name": "Acme", "domain": "acme.example.com", "shard": "shard1"}]
    inv = edit_yaml("host_vars/fs1a.yml", lambda d: d.update(tenants=tenants))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    p = one(problems, "host fs1a: tenants", "differs from host edge1's value")
    assert p.fix == "define cluster settings in group_vars/all only"
    assert len(problems) == 1


def test_setting_overridden_in_a_group(edit_yaml):
    inv = edit_yaml("group_vars/web.yml", lambda d: d.update(edge_engine="kamailio"))
    problems, code = run(inv)
    assert code == EXIT_BAD_INPUT
    assert sorted(p.where for p in problems) == ["host web1: edge_engine", "host web2: edge_engine"]


# --- how check_inventory reports them ---------------------------------------------------------


def test_check_inventory_lists_every_problem_with_exit_code(edit_yaml):
    edit_yaml(TENANTS, _tenant(1, shard="shard3"))
    inv = edit_yaml(CLUSTER, _set_vip("10.20.0.12"))
    with pytest.raises(ClusterctlError) as err:
        check_inventory(str(inv))
    assert err.value.exit_code == EXIT_FAILED
    lines = err.value.message.splitlines()
    assert lines[0] == f"inventory {inv} is not valid (2 problem(s)):"
    assert "  vrrp instance edge: VIP 10.20.0.12 is host edge2's own address (fix: " in lines[1]
    assert (
        lines[2]
        == "  tenant globex: shard 'shard3' does not exist (fix: use one of shard1, shard2)"
    )


def test_check_inventory_returns_the_model_when_valid(inventory_copy):
    cluster = check_inventory(str(inventory_copy))
    assert sorted(cluster.members("sip_edge")) == ["edge1", "edge2"]
    assert [t.id for t in cluster.settings.tenants] == ["acme", "globex", "initech"]


def test_operator_networks_are_required(edit_yaml):
    inv = edit_yaml("group_vars/all/cluster.yml", lambda d: d.pop("operator_networks"))
    found, code = run(inv)
    assert code == 1
    assert [p.where for p in found] == ["operator_networks"]
    assert "reachable from nowhere" in found[0].message


# --- issue 16: safety and topology rules --------------------------------------------------------


@pytest.mark.parametrize("address", ["10.0.0.0/8", "198.0.0.0/15"])
def test_wide_carrier_network_is_refused(edit_yaml, address):
    problems, code = run(edit_yaml(CLUSTER, lambda d: d["carriers"][0].update(address=address)))
    assert code == EXIT_FAILED
    p = one(problems, "carrier carrier-a", f"address {address} is wider than /16")
    assert "allow_wide_network: true" in p.fix
    assert len(problems) == 1


def test_wide_carrier_network_with_the_opt_in_is_allowed(edit_yaml):
    inv = edit_yaml(
        CLUSTER, lambda d: d["carriers"][0].update(address="10.0.0.0/8", allow_wide_network=True)
    )
    assert_valid(inv)


def test_carrier_trusting_everything_is_refused_even_with_the_opt_in(edit_yaml):
    inv = edit_yaml(
        CLUSTER, lambda d: d["carriers"][0].update(address="0.0.0.0/0", allow_wide_network=True)
    )
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "carrier carrier-a", "0.0.0.0/0 trusts the whole Internet")


def test_slash_16_carrier_is_allowed(edit_yaml):
    assert_valid(edit_yaml(CLUSTER, lambda d: d["carriers"][0].update(address="198.51.0.0/16")))


def test_feature_server_in_no_shard(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["feature_servers"]["hosts"].update(
        fs1c={"ansible_host": "10.20.0.25", "shard": "shard1"}))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "host fs1c", "no shard's primary or secondary")
    assert "name it in shards" in p.fix
    assert len(problems) == 1


def test_edge_node_that_is_also_a_feature_server(edit_yaml):
    inv = edit_yaml(HOSTS, lambda d: children(d)["feature_servers"]["hosts"].update(edge2=None))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    one(problems, "host edge2", "is in both sip_edge and feature_servers")


def test_storage_bricks_on_web_and_database_hosts_do_not_clash(inventory_copy):
    # The example already puts bricks on web1, web2 and db1.
    assert_valid(inventory_copy)


@pytest.mark.parametrize("pattern", ["10.20.0.0/24", "10.20.0.0/255.255.0.255", "10.20.0.0.1"])
def test_db_client_network_not_in_mariadb_syntax(edit_yaml, pattern):
    problems, code = run(edit_yaml(DATABASE, lambda d: d.update(db_client_networks=[pattern])))
    assert code == EXIT_FAILED
    p = one(problems, "db_client_networks", f"'{pattern}' is not a MariaDB host pattern")
    assert "not a CIDR prefix" in p.fix
    assert len(problems) == 1


@pytest.mark.parametrize("pattern", ["10.20.0.%", "10.20.%", "10.20.0.0/255.255.255.0"])
def test_db_client_networks_in_mariadb_syntax(edit_yaml, pattern):
    assert_valid(edit_yaml(DATABASE, lambda d: d.update(db_client_networks=[pattern])))


def test_db_client_networks_must_cover_every_client(edit_yaml):
    networks = ["10.20.0.1_", "10.20.0.2_"]  # edges and feature servers, not web
    problems, code = run(edit_yaml(DATABASE, lambda d: d.update(db_client_networks=networks)))
    assert code == EXIT_FAILED
    assert sorted(p.where for p in problems) == ["host web1", "host web2"]
    p = one(problems, "host web1", "web host 10.20.0.41 connects to the databases")
    assert "10.20.0.1_, 10.20.0.2_" in p.message


def _faults(**commands: str) -> Any:
    return lambda d: d.update(fault_commands=commands)


def test_fault_command_with_a_placeholder_no_drill_fills(edit_yaml):
    inv = edit_yaml(CLUSTER, _faults(restart="ipmitool -P Bmc-Pass -H {bmc} power cycle"))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "fault_commands.restart", "placeholder {bmc} is not one a drill fills")
    assert "{host}, {address}" in p.fix
    assert "Bmc-Pass" not in str(p)


@pytest.mark.parametrize("command", ["virsh suspend {host", "virsh suspend '{host}"])
def test_fault_command_that_cannot_be_parsed(edit_yaml, command):
    problems, code = run(edit_yaml(CLUSTER, _faults(freeze=command, thaw="virsh resume {host}")))
    assert code == EXIT_FAILED
    one(problems, "fault_commands.freeze", "cannot be parsed")


def test_inline_vaulted_secret_without_the_password_is_left_to_the_role(edit_yaml):
    vaulted = {"vault_edge_auth_secret": "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n"}

    def add(d: dict[str, Any]) -> None:
        d.update(vaulted)

    inv = edit_yaml("group_vars/all/vault.yml", add)
    path = inv / "group_vars/all/vault.yml"
    text = path.read_text().replace("vault_edge_auth_secret: '", "vault_edge_auth_secret: !vault '")
    path.write_text(text)
    assert "!vault" in path.read_text()
    assert_valid(inv)


def test_fault_commands_with_host_and_address_are_valid(edit_yaml):
    inv = edit_yaml(CLUSTER, _faults(freeze="virsh suspend {host}", thaw="virsh resume {host}",
                                     restart="ssh bmc-{host} reset {address} {{literal}}"))
    assert_valid(inv)


def test_freeze_without_thaw(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, _faults(freeze="virsh suspend {host}")))
    assert code == EXIT_FAILED
    one(problems, "fault_commands.thaw", "is not set but freeze is")


def test_fault_placeholders_are_what_the_drill_fills():
    from clusterctl.faults import FaultTarget, ProductionFaults  # noqa: PLC0415

    faults = ProductionFaults({"db1": FaultTarget("db1", "10.20.0.31")}, host_exec=None,
                              fault_commands={"restart": "reset {host} {address}"})
    assert faults.host_command("restart", "db1") == ["reset", "db1", "10.20.0.31"]


@pytest.mark.parametrize(
    "secret", ["short-secret", "has a space in it 12345", 'quote"inside12345678']
)
def test_edge_auth_secret_outside_the_roles_rule_is_refused_and_masked(edit_yaml, secret):
    inv = edit_yaml(CLUSTER, lambda d: d.update(edge_auth_secret="{{ vault_edge_auth_secret }}"))
    edit_yaml("group_vars/all/vault.yml", lambda d: d.update(vault_edge_auth_secret=secret))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "edge_auth_secret", f"value (masked, {len(secret)} characters)")
    assert secret not in str(p)
    assert len(problems) == 1


def test_edge_auth_secret_that_fits_the_roles_rule(edit_yaml):
    inv = edit_yaml("group_vars/all/vault.yml",
                    lambda d: d.update(vault_edge_auth_secret="Abcdefgh12345678._~+/=-"))
    assert_valid(inv)


def test_fs_esl_password_is_required_with_feature_servers(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, lambda d: d.pop("fs_esl_password")))
    assert code == EXIT_FAILED
    p = one(problems, "fs_esl_password", "is required (there is no default)")
    assert "event socket" in p.message and "ansible-vault" in p.fix
    assert len(problems) == 1


@pytest.mark.parametrize("secret", ["short-pass", "has a space 12345"])
def test_fs_esl_password_outside_the_roles_rule_is_refused_and_masked(edit_yaml, secret):
    inv = edit_yaml("group_vars/all/vault.yml", lambda d: d.update(vault_fs_esl_password=secret))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "fs_esl_password", f"value (masked, {len(secret)} characters)")
    assert secret not in str(p)
    assert len(problems) == 1


@pytest.mark.parametrize(
    "role, name, asserted_in",
    [
        ("sip_edge", "sip_edge_auth_secret_pattern", "tasks/main.yml"),
        ("freeswitch", "freeswitch_esl_password_pattern", "tasks/preflight.yml"),
    ],
)
def test_secret_pattern_is_the_roles_own(role, name, asserted_in):
    role_vars = yaml.safe_load((REPO_ROOT / f"roles/{role}/vars/main.yml").read_text())
    assert secret_pattern(role, name) == role_vars[name]
    asserts = (REPO_ROOT / f"roles/{role}/{asserted_in}").read_text()
    assert f"is match({name})" in asserts


def test_empty_vault_value_names_the_vault_variable(edit_yaml):
    inv = edit_yaml("group_vars/all/vault.yml", lambda d: d.update(vault_db_cdr_password=""))
    problems, code = run(inv)
    assert code == EXIT_FAILED
    p = one(problems, "db_cdr_password", "vault_db_cdr_password is empty")
    assert "group_vars/all/vault.yml" in p.fix
    assert len(problems) == 1


def test_two_instances_with_one_vip_are_named(edit_yaml):
    problems, code = run(edit_yaml(CLUSTER, _second_instance("web", "10.20.0.10", 52)))
    assert code == EXIT_FAILED
    one(problems, "vrrp instances edge, web", "all use VIP 10.20.0.10")

