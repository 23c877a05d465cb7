"""inventory/lab as `lab up` writes it: valid YAML, the right groups and keys, and valid for
clusterctl's own inventory checks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from clusterctl.lab.inventory import SECRET_KEYS, write_inventory
from clusterctl.lab.topology import load_topology, profile_path
from clusterctl.validate import check_inventory


def _write(tmp_path: Path, profile: str = "default") -> Path:
    out = tmp_path / "inventory" / "lab"
    write_inventory(load_topology(profile_path(profile)), out, key_path=tmp_path / "key",
                    known_hosts=tmp_path / "known_hosts", lab_name="clusterctl-lab")
    return out


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_hosts_file_has_groups_and_connection_vars(tmp_path: Path):
    out = _write(tmp_path)
    children = _load(out / "hosts.yml")["all"]["children"]
    assert set(children) == {"sip_edge", "feature_servers", "databases", "web", "storage",
                             "probes"}
    assert list(children["storage"]["hosts"]) == ["db1", "web1", "web2"]
    fs1b = children["feature_servers"]["hosts"]["fs1b"]
    assert fs1b == {"ansible_host": "172.29.10.22", "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(tmp_path / "key"), "shard": "shard1"}
    assert "shard" not in children["sip_edge"]["hosts"]["edge1"]
    common = _load(out / "hosts.yml")["all"]["vars"]["ansible_ssh_common_args"]
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in common


def test_group_vars_follow_the_schema(tmp_path: Path):
    gv = _write(tmp_path) / "group_vars" / "all"
    merged: dict = {}
    for path in sorted(gv.glob("*.yml")):
        merged.update(_load(path) or {})
    assert merged["cluster_name"] == "lab"
    assert merged["edge_engine"] == "opensips"
    assert "package_dir" not in merged
    assert merged["vrrp_instances"] == [{"name": "edge", "group": "sip_edge",
                                         "vip": "172.29.10.100", "prefix": 24, "router_id": 51,
                                         "interface": "eth0", "advert_int": 1.0}]
    assert merged["dispatcher"] == {"ping_interval": 2, "probing_threshold": 2,
                                    "invite_timeout": 2}
    assert merged["db_topology"] == "master_master"
    assert merged["shards"] == {"shard1": {"primary": "fs1a", "secondary": "fs1b"},
                                "shard2": {"primary": "fs2a", "secondary": "fs2b"}}
    assert merged["storage_arbiter"] == "db1"
    assert [(t["id"], t["shard"]) for t in merged["tenants"]] == [
        ("alpha", "shard1"), ("beta", "shard1"), ("gamma", "shard2")]
    assert merged["lab"] == {"name": "clusterctl-lab", "network": "clusterctl-lab",
                             "subnet": "172.29.10.0/24", "feature_servers": "standin"}
    assert merged["carriers"] == [{"name": "lab-carrier", "address": "172.29.10.61/32"}]


def test_secrets_are_private_random_and_kept(tmp_path: Path):
    out = _write(tmp_path)
    path = out / "group_vars" / "all" / "secrets.yml"
    first = _load(path)
    assert set(first) == set(SECRET_KEYS)
    assert len(set(first.values())) == len(SECRET_KEYS)
    assert all(len(v) >= 24 for v in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A second `up` keeps the passwords: the database volumes were initialised with them.
    _write(tmp_path)
    assert _load(path) == first
    other = _write(tmp_path / "other")
    assert _load(other / "group_vars" / "all" / "secrets.yml") != first


@pytest.mark.parametrize(("profile", "db_topology", "hosts"),
                         [("default", "master_master", 11), ("galera", "galera", 12)])
def test_generated_inventory_passes_clusterctl_validate(tmp_path: Path, profile, db_topology,
                                                        hosts):
    cluster = check_inventory(str(_write(tmp_path, profile)))
    assert cluster.is_lab
    assert cluster.settings.db_topology == db_topology
    assert len(cluster.hosts) == hosts
    # The carrier reaches the model (and so playbooks/edge.yml's sip_edge_carriers).
    assert [(c.name, str(c.address), c.port) for c in cluster.settings.carriers] == [
        ("lab-carrier", "172.29.10.61/32", None)]


def test_engine_and_package_directory_reach_the_inventory(tmp_path: Path):
    out = tmp_path / "inventory" / "lab"
    write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "key",
                    known_hosts=tmp_path / "known_hosts", lab_name="clusterctl-lab",
                    engine="kamailio", package_dir=tmp_path / "debs")
    gv = out / "group_vars" / "all"
    assert _load(gv / "edge.yml")["edge_engine"] == "kamailio"
    assert _load(gv / "cluster.yml")["package_dir"] == str(tmp_path / "debs")
    cluster = check_inventory(str(out))
    assert cluster.settings.edge_engine == "kamailio"
    assert cluster.settings.package_dir == str(tmp_path / "debs")
    # Stand-ins unless FreeSWITCH was asked for (it needs the package directory).
    assert _load(gv / "cluster.yml")["lab"]["feature_servers"] == "standin"
    assert cluster.feature_server_unit == "sipp-standin"
