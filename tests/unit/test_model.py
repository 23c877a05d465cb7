"""The typed model on plain data (no Ansible): defaults, types, hints, the built Cluster."""

from __future__ import annotations

import copy
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from pydantic import ValidationError

from clusterctl.model import (
    ClusterSettings,
    ModelErrors,
    Problem,
    VrrpInstance,
    build_cluster,
    origin_of,
)
from clusterctl.validate import problems_of

SETTINGS: dict[str, Any] = {
    "cluster_name": "unit",
    "vrrp_instances": [{"name": "edge", "vip": "10.9.0.10", "prefix": 24, "router_id": 7}],
    "shards": {"s1": {"primary": "fs1", "secondary": "fs2"}},
    "tenants": [{"id": "t1", "name": "T One", "domain": "t1.example.org", "shard": "s1"}],
}
ADDRESSES = {"edge1": "10.9.0.11", "edge2": "10.9.0.12", "fs1": "10.9.0.21", "fs2": "10.9.0.22"}
GROUPS = {
    "all": list(ADDRESSES),
    "ungrouped": [],
    "sip_edge": ["edge1", "edge2"],
    "feature_servers": ["fs1", "fs2"],
}


def hostvars(settings: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every host sees the same settings (as from group_vars/all) plus its own variables."""
    out = {}
    for name, address in ADDRESSES.items():
        hv = copy.deepcopy(settings if settings is not None else SETTINGS)
        hv["ansible_host"] = address
        if name.startswith("fs"):
            hv["shard"] = "s1"
        out[name] = hv
    return out


def errors_of(groups: dict[str, list[str]], hv: dict[str, dict[str, Any]]) -> list[str]:
    with pytest.raises(ModelErrors) as err:
        build_cluster(groups, hv)
    return [str(p) for p in err.value.problems]


def test_minimal_cluster_defaults():
    cluster = build_cluster(GROUPS, hostvars())
    s = cluster.settings
    assert (s.edge_engine, s.db_topology) == ("opensips", "master_master")
    assert (s.dispatcher.ping_interval, s.dispatcher.probing_threshold) == (2, 2)
    assert s.dispatcher.invite_timeout == 2
    assert s.vrrp_instances[0].group == "sip_edge"
    assert s.vrrp_instances[0].interface == "eth0"
    assert s.vrrp_instances[0].advert_int == 1.0
    assert s.carriers == []
    assert s.drill_thresholds.detection_idle_s is None
    assert s.db_root_password is None
    assert not cluster.is_lab
    # No databases, storage or probes: a minimal edge + feature cluster passes the rules
    # except master_master's node count, the required edge and event-socket secrets and
    # operator networks.
    assert [p.where for p in problems_of(cluster)] == [
        "group databases",
        "edge_auth_secret",
        "fs_esl_password",
        "operator_networks",
    ]


def test_hosts_and_groups():
    cluster = build_cluster(GROUPS, hostvars())
    assert cluster.hosts["fs2"].address == IPv4Address("10.9.0.22")
    assert cluster.hosts["fs2"].shard == "s1"
    assert cluster.hosts["edge1"].shard is None
    assert cluster.hosts["edge1"].groups == frozenset({"all", "sip_edge"})
    assert cluster.members("sip_edge") == ("edge1", "edge2")
    assert cluster.members("storage") == ()
    # Ansible's implicit groups are not cluster groups.
    assert "all" not in cluster.groups
    assert "ungrouped" not in cluster.groups


def test_address_is_none_for_names_and_ipv6():
    hv = hostvars()
    hv["edge1"]["ansible_host"] = "edge1.example.org"
    hv["edge2"]["ansible_host"] = "fd00::12"
    del hv["fs1"]["ansible_host"]
    cluster = build_cluster(GROUPS, hv)
    assert [cluster.hosts[h].address for h in ("edge1", "edge2", "fs1")] == [None, None, None]


def test_vrrp_network_and_bounds():
    inst = VrrpInstance(name="edge", vip=IPv4Address("10.9.0.10"), prefix=24, router_id=7)
    assert inst.network == IPv4Network("10.9.0.0/24")
    for bad in ({"prefix": 31}, {"prefix": 7}, {"router_id": 256}, {"advert_int": 0.001}):
        with pytest.raises(ValidationError):
            VrrpInstance.model_validate(
                {"name": "edge", "vip": "10.9.0.10", "prefix": 24, "router_id": 7, **bad}
            )


def test_lab_marker():
    settings = {**SETTINGS, "lab": {"name": "lab1", "network": "clab", "subnet": "10.9.0.0/24"}}
    cluster = build_cluster(GROUPS, hostvars(settings))
    assert cluster.is_lab
    assert cluster.settings.lab is not None
    assert cluster.settings.lab.subnet == IPv4Network("10.9.0.0/24")


def test_settings_are_frozen():
    settings = ClusterSettings.model_validate(SETTINGS)
    with pytest.raises(ValidationError):
        settings.cluster_name = "other"  # type: ignore[misc]


def test_permissions_and_dids_are_checked():
    tenant = {**SETTINGS["tenants"][0], "permissions": ["local", "space"], "dids": ["5551234"]}
    lines = errors_of(GROUPS, hostvars({**SETTINGS, "tenants": [tenant]}))
    assert any("tenant t1: tenants[0].permissions[1]: Input should be" in line for line in lines)
    assert any(
        "tenant t1: tenants[0].dids[0]: String should match pattern" in line for line in lines
    )


def test_carrier_address_accepts_host_or_network():
    carriers = [
        {"name": "c1", "address": "198.51.100.7"},
        {"name": "c2", "address": "198.51.100.0/28", "port": 5080},
    ]
    cluster = build_cluster(GROUPS, hostvars({**SETTINGS, "carriers": carriers}))
    assert [str(c.address) for c in cluster.settings.carriers] == [
        "198.51.100.7/32",
        "198.51.100.0/28",
    ]
    duplicate = [*carriers, {"name": "c1", "address": "203.0.113.1"}]
    cluster = build_cluster(GROUPS, hostvars({**SETTINGS, "carriers": duplicate}))
    assert [str(p) for p in problems_of(cluster) if p.where.startswith("carrier")] == [
        "carrier c1: name is used more than once"
    ]


def test_no_hosts():
    assert errors_of({"all": []}, {}) == ["inventory: has no hosts (fix: add the cluster's hosts)"]


def test_unknown_group_hint_and_known_list():
    groups = {**GROUPS, "sip_egde": [], "voicemail": []}
    lines = errors_of(groups, hostvars())
    assert "group sip_egde: unknown group (fix: did you mean 'sip_edge'?)" in lines
    assert (
        "group voicemail: unknown group (fix: known keys: sip_edge, feature_servers, "
        "databases, web, storage, probes)" in lines
    )


def test_settings_differing_between_hosts():
    hv = hostvars()
    hv["fs2"]["cluster_name"] = "other"
    assert errors_of(GROUPS, hv) == [
        "host fs2: cluster_name: differs from host edge1's value "
        "(fix: define cluster settings in group_vars/all only)"
    ]


def test_misspelt_top_level_keys_and_what_is_not_a_typo():
    settings = {k: v for k, v in SETTINGS.items() if k != "tenants"}
    settings["tenats"] = SETTINGS["tenants"]
    settings["shard"] = "not a typo of shards: a host variable"
    settings["vault_db_root_password"] = "vaulted value a setting refers to"
    settings["ntp_servers"] = ["pool.ntp.org"]  # unrelated variables of other roles are fine
    assert errors_of(GROUPS, hostvars(settings)) == [
        "group_vars/all: tenats: unknown key (fix: did you mean 'tenants'?)"
    ]


def test_missing_required_settings_are_each_named():
    lines = errors_of(GROUPS, hostvars({"cluster_name": "unit"}))
    assert lines == [
        f"group_vars/all: {key}: required setting is missing"
        for key in ("vrrp_instances", "shards", "tenants")
    ]


def test_empty_lists_are_rejected():
    lines = errors_of(GROUPS, hostvars({**SETTINGS, "tenants": [], "vrrp_instances": []}))
    assert [line.split(": ")[1] for line in lines] == ["vrrp_instances", "tenants"]


def test_nested_unknown_key_hint():
    settings = {**SETTINGS, "drill_thresholds": {"max_flap": 3}}
    assert errors_of(GROUPS, hostvars(settings)) == [
        "group_vars/all: drill_thresholds.max_flap: unknown key (fix: did you mean 'max_flaps'?)"
    ]


def test_problem_str():
    assert str(Problem("host a", "is wrong")) == "host a: is wrong"
    assert str(Problem("host a", "is wrong", "fix it")) == "host a: is wrong (fix: fix it)"


def test_origin_of_plain_value_is_none():
    assert origin_of("plain") is None
    assert origin_of({"a": 1}) is None


def test_media_relay_is_off_unless_asked_for():
    assert build_cluster(GROUPS, hostvars()).settings.edge_media_relay is False
    on = build_cluster(GROUPS, hostvars({**SETTINGS, "edge_media_relay": True}))
    assert on.settings.edge_media_relay is True
    assert any(
        "edge_media_relay" in e
        for e in errors_of(GROUPS, hostvars({**SETTINGS, "edge_media_relay": "sometimes"}))
    )
