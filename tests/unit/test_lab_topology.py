"""Lab topology files: the built-in profiles, every rejection, subnet clash detection."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml

from clusterctl.errors import BadInput
from clusterctl.lab.topology import find_clash, load_topology, parse_topology, profile_path


def default_data() -> dict:
    return yaml.safe_load(profile_path("default").read_text(encoding="utf-8"))


def test_default_profile_has_the_issue_topology():
    topo = load_topology(profile_path("default"))
    groups = {g: [h.name for h in topo.group(g)] for g in
              ("sip_edge", "feature_servers", "databases", "web", "storage", "probes")}
    assert groups == {
        "sip_edge": ["edge1", "edge2"],
        "feature_servers": ["fs1a", "fs1b", "fs2a", "fs2b"],
        "databases": ["db1", "db2"],
        "web": ["web1", "web2"],
        "storage": ["db1", "web1", "web2"],
        "probes": ["probe1"],
    }
    assert {h.name: h.shard for h in topo.group("feature_servers")} == {
        "fs1a": "shard1", "fs1b": "shard1", "fs2a": "shard2", "fs2b": "shard2"}
    assert topo.subnet == ipaddress.IPv4Network("172.29.10.0/24")
    assert str(topo.edge_vip) == "172.29.10.100"
    assert topo.network_name == "clusterctl-lab"
    assert topo.storage_arbiter == "db1"
    assert topo.db_topology == "master_master"
    assert len(topo.hosts) <= 12


def test_galera_profile_has_three_databases():
    topo = load_topology(profile_path("galera"))
    assert [h.name for h in topo.group("databases")] == ["db1", "db2", "db3"]
    assert topo.db_topology == "galera"
    assert len(topo.hosts) == 12


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(BadInput, match="unknown lab profile 'huge': choose one of default, "
                                      "galera"):
        profile_path("huge")


def test_unreadable_and_invalid_files(tmp_path: Path):
    with pytest.raises(BadInput, match="cannot read topology file"):
        load_topology(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts: [a\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"not valid YAML \(line"):
        load_topology(bad)
    scalar = tmp_path / "scalar.yml"
    scalar.write_text("just text\n", encoding="utf-8")
    with pytest.raises(BadInput, match="expected a mapping"):
        load_topology(scalar)


def _broken(change) -> dict:
    data = copy.deepcopy(default_data())
    change(data)
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(extra=1), "unknown key 'extra'"),
    (lambda d: d["hosts"]["edge1"]["groups"].append("pbx"), "unknown group 'pbx'"),
    (lambda d: d["hosts"]["edge1"].update(address="10.0.0.1"), "not a usable address"),
    (lambda d: d["hosts"]["edge1"].update(address="172.29.10.1"), "not a usable address"),
    (lambda d: d["hosts"]["edge2"].update(address="172.29.10.11"), "already used by edge1"),
    (lambda d: d["hosts"].update({"Edge_3": {"address": "172.29.10.13", "groups": []}}),
     "names are lower-case"),
    (lambda d: d.update(edge_vip="172.29.10.11"), "must be a free address"),
    (lambda d: d.update(edge_vip="banana"), "not an IPv4 address"),
    (lambda d: d["network"].update(subnet="172.29.10.0/33"), "not an IPv4 network"),
    (lambda d: d["network"].update(subnet="10.0.0.0/8"), "must be a /16 to /28"),
    (lambda d: d.update(db_topology="sharded"), "db_topology"),
    (lambda d: d["shards"].pop("shard2"), "feature server 'fs2a' is in no shard"),
    (lambda d: d["shards"]["shard2"].update(primary="db1"), "not a feature_servers host"),
    (lambda d: d.update(storage_arbiter="edge1"), "not a storage host"),
    (lambda d: d["tenants"][0].update(shard="shard9"), "unknown shard 'shard9'"),
    (lambda d: d.pop("hosts"), "missing 'hosts'"),
    (lambda d: d.update(carriers={"name": "c"}), "carriers: expected a list of mappings"),
    (lambda d: d["carriers"][0].update(trunk=True), "unknown key 'trunk'"),
    (lambda d: d["carriers"][0].update(name="Lab Carrier"), "names are lower-case"),
    (lambda d: d["carriers"].append(dict(d["carriers"][0])), "used more than once"),
    (lambda d: d["carriers"][0].pop("address"), "missing 'address'"),
    (lambda d: d["carriers"][0].update(address="172.29.10.61/33"),
     "not an IPv4 address or network"),
    (lambda d: d["carriers"][0].update(address="198.51.100.7"), "not inside the lab subnet"),
    (lambda d: d["carriers"][0].update(address="172.29.10.51"), "covers 172.29.10.51"),
    (lambda d: d["carriers"][0].update(address="172.29.10.96/28"), "covers 172.29.10.100"),
    (lambda d: d["carriers"][0].update(address="172.29.10.0/30"), "covers 172.29.10.1"),
    (lambda d: d["carriers"][0].update(port=0), "port must be a number"),
    (lambda d: d["carriers"][0].update(port="5060"), "port must be a number"),
])
def test_inconsistent_topologies_are_refused(change, message):
    with pytest.raises(BadInput, match=message):
        parse_topology(_broken(change))


@pytest.mark.parametrize("profile", ["default", "galera"])
def test_profiles_have_a_carrier_at_a_spare_address(profile):
    topo = load_topology(profile_path(profile))
    assert topo.carriers == [{"name": "lab-carrier", "address": "172.29.10.61/32"}]
    spare = ipaddress.IPv4Network(topo.carriers[0]["address"])
    assert not any(h.address in spare for h in topo.hosts)


def test_carrier_network_and_port_are_normalised():
    topo = parse_topology(_broken(lambda d: d.update(
        carriers=[{"name": "pbx_1", "address": "172.29.10.64/29", "port": 5080}])))
    assert topo.carriers == [{"name": "pbx_1", "address": "172.29.10.64/29", "port": 5080}]
    assert parse_topology(_broken(lambda d: d.pop("carriers"))).carriers == []


def test_file_errors_name_the_file(tmp_path: Path):
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(_broken(lambda d: d.update(edge_vip="1.2.3.4"))),
                    encoding="utf-8")
    with pytest.raises(BadInput, match=rf"^topology file {path}: edge_vip"):
        load_topology(path)


def test_unknown_host_lookup_lists_hosts():
    topo = load_topology(profile_path("default"))
    assert topo.host("db2").address == ipaddress.IPv4Address("172.29.10.32")
    with pytest.raises(BadInput, match="unknown lab host 'db9': known hosts are edge1, edge2"):
        topo.host("db9")


LAB = ipaddress.IPv4Network("172.29.10.0/24")


def test_clash_with_another_docker_network():
    nets = {"bridge": ["172.17.0.0/16"], "theirs": ["172.29.0.0/16"], "v6": ["fd00::/64"]}
    assert find_clash(LAB, nets, [], own_network="clusterctl-lab") == \
        "docker network 'theirs' (172.29.0.0/16)"


def test_own_network_and_default_route_are_not_clashes():
    nets = {"clusterctl-lab": ["172.29.10.0/24"], "bridge": ["172.17.0.0/16"]}
    assert find_clash(LAB, nets, ["default", "192.0.2.0/24"], own_network="clusterctl-lab") is None


def test_clash_with_a_host_route():
    assert find_clash(LAB, {}, ["default", "172.29.10.128/25"], own_network="x") == \
        "host route 172.29.10.128/25"
    assert find_clash(LAB, {}, ["172.29.10.7"], own_network="x") == "host route 172.29.10.7/32"
