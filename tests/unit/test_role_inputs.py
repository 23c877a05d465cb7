"""Role inputs from the cluster model (clusterctl/role_inputs.py), without Ansible.

Read over inventory/example (OpenSIPS, master/master) and the lab's default inventory
(Kamailio), plus inventories edited to reach every default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterctl import role_inputs
from clusterctl.confsvc.config import load_config
from clusterctl.engines import EDGE_DB_RETRY_S
from clusterctl.errors import BadInput
from clusterctl.inventory import load_cluster
from clusterctl.lab.inventory import write_inventory
from clusterctl.lab.topology import load_topology, profile_path
from clusterctl.model import SECRET_KEYS, Cluster
from clusterctl.web import (
    CONFSVC_DB_TIMEOUT_MS,
    CONFSVC_PROXY_CHECK_TIMEOUT_MS,
    CONFSVC_PROXY_SERVER_TIMEOUT_MS,
)

ROLES = Path(__file__).resolve().parents[2] / "roles"
FACTS = {"default_ipv4": {"network": "10.20.0.0", "netmask": "255.255.255.0"}}


def no_facts(host: str) -> dict[str, Any]:
    raise AssertionError(f"facts of {host} were read although db_client_networks is set")


@pytest.fixture
def example(inventory_copy: Path) -> Cluster:
    return load_cluster(str(inventory_copy))


@pytest.fixture
def lab(tmp_path: Path) -> Cluster:
    """The lab on Kamailio (`lab up --engine kamailio`); the example inventory is OpenSIPS."""
    out = tmp_path / "lab"
    write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "key",
                    known_hosts=tmp_path / "known_hosts", lab_name="clusterctl-lab",
                    engine="kamailio")
    return load_cluster(str(out))


def test_sip_edge_routing_tables_follow_the_shards(example: Cluster) -> None:
    got = role_inputs.sip_edge(example, "edge1")
    assert got["sip_edge_engine"] == "opensips"
    assert got["sip_edge_management_port"] == 8888
    assert got["sip_edge_vip"] == "10.20.0.10"
    assert got["sip_edge_db_hosts"] == ["10.20.0.31", "10.20.0.32"]
    assert [(t["id"], t["set_id"]) for t in got["sip_edge_tenants"]] == [
        ("acme", 1), ("globex", 1), ("initech", 2)
    ]
    assert got["sip_edge_tenants"][0] == {
        "id": "acme", "name": "Acme Corp", "domain": "acme.voice.example.com", "shard": "shard1",
        "dids": ["+15550100100", "+15550100101"], "permissions": ["internal", "local", "national"],
        "set_id": 1,
    }
    assert got["sip_edge_dispatcher_sets"][1] == {
        "id": 2,
        "name": "shard2",
        "destinations": [
            {"name": "fs2a", "address": "10.20.0.23", "port": 5060, "priority": 10},
            {"name": "fs2b", "address": "10.20.0.24", "port": 5060, "priority": 5},
        ],
    }
    assert [f["name"] for f in got["sip_edge_feature_servers"]] == ["fs1a", "fs1b", "fs2a", "fs2b"]
    assert got["sip_edge_carriers"] == [
        {"name": "carrier-a", "address": "198.51.100.0/28", "port": 5060}
    ]
    assert (got["sip_edge_ping_interval"], got["sip_edge_rtpengine"]) == (2, False)


def test_opensips_comes_from_the_package_directory_when_the_inventory_names_one(
        example: Cluster, edit_yaml) -> None:
    got = role_inputs.sip_edge(example, "edge1")
    assert (got["sip_edge_opensips_source"], got["sip_edge_opensips_deb_dir"]) == ("apt", "")
    inventory = edit_yaml("group_vars/all/cluster.yml",
                          lambda d: d.update(package_dir="/srv/debs/trixie"))
    got = role_inputs.sip_edge(load_cluster(str(inventory)), "edge1")
    assert (got["sip_edge_opensips_source"], got["sip_edge_opensips_deb_dir"]) == (
        "debs", "/srv/debs/trixie")


def test_sip_edge_defaults_fill_what_the_inventory_leaves_out(edit_yaml) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d.pop("dispatcher")
        d["carriers"] = [{"name": "pbx", "address": "203.0.113.0/29"}]

    inventory = edit_yaml("group_vars/all/cluster.yml", mutate)
    edit_yaml("group_vars/all/tenants.yml",
              lambda d: [d["tenants"][2].pop(k) for k in ("dids", "permissions")])
    got = role_inputs.sip_edge(load_cluster(str(inventory)), "edge2")
    assert got["sip_edge_carriers"] == [{"name": "pbx", "address": "203.0.113.0/29", "port": 5060}]
    assert (got["sip_edge_ping_interval"], got["sip_edge_invite_timeout"]) == (2, 2)
    assert got["sip_edge_tenants"][2]["dids"] == got["sip_edge_tenants"][2]["permissions"] == []


def test_keepalived_on_opensips(example: Cluster) -> None:
    first, second = (role_inputs.keepalived(example, h) for h in ("edge1", "edge2"))
    assert (first["keepalived_priority"], second["keepalived_priority"]) == (150, 100)
    assert first["keepalived_instances"] == [{
        "name": "edge", "group": "sip_edge", "vip": "10.20.0.10", "prefix": 24,
        "router_id": 51, "interface": "eth0", "advert_int": 1.0,
    }]
    assert first["keepalived_notify_rpc_url"] == "http://10.20.0.11:8888/mi"
    assert first["keepalived_notify_rpc_calls"] == {
        "MASTER": [{"method": "clusterer_shtag_set_active", "params": {"tag": "vip/1"}}]
    }
    assert (first["keepalived_track_unit"], first["keepalived_track_process"]) == (
        "opensips", "opensips"
    )
    assert first["keepalived_sip_check_address"] == "10.20.0.11"
    # Databases, feature servers, then the peer: never the node itself.
    assert first["keepalived_reach_targets"] == [
        "10.20.0.31", "10.20.0.32", "10.20.0.21", "10.20.0.22", "10.20.0.23", "10.20.0.24",
        "10.20.0.12",
    ]


def test_keepalived_on_the_kamailio_lab(lab: Cluster) -> None:
    got = role_inputs.keepalived(lab, "edge2")
    assert got["keepalived_notify_rpc_url"] == "http://172.29.10.12:5071/RPC"
    assert got["keepalived_notify_rpc_calls"] == {
        state: [{"method": "nathelper.enable_ping", "params": [flag]}]
        for state, flag in (("MASTER", 1), ("BACKUP", 0), ("FAULT", 0))
    }
    # No process-event connector in the lab's containers.
    assert (got["keepalived_track_unit"], got["keepalived_track_process"]) == ("kamailio", "")


def test_only_the_edge_instances_go_to_keepalived(edit_yaml) -> None:
    web = {"name": "web", "group": "web", "vip": "10.20.0.40", "prefix": 24, "router_id": 52}
    inventory = edit_yaml("group_vars/all/cluster.yml",
                          lambda d: d["vrrp_instances"].insert(0, web))
    got = role_inputs.keepalived(load_cluster(str(inventory)), "edge1")
    assert [i["name"] for i in got["keepalived_instances"]] == ["edge"]


def test_mariadb_client_networks_default_to_the_first_node_network(example: Cluster) -> None:
    asked: list[str] = []

    def facts_of(host: str) -> dict[str, Any]:
        asked.append(host)
        return FACTS

    got = role_inputs.mariadb(example, "db2", facts_of)
    assert got == {
        "mariadb_topology": "master_master",
        "mariadb_nodes": ["db1", "db2"],
        "mariadb_galera_arbitrator": "",
        "mariadb_edge_engine": "opensips",
        "mariadb_client_networks": ["10.20.0.0/255.255.255.0"],
    }
    assert asked == ["db1"]


def test_mariadb_without_the_first_node_facts_says_how_to_fix_it(example: Cluster) -> None:
    with pytest.raises(BadInput, match="database node db1 has no gathered default IPv4"):
        role_inputs.mariadb(example, "db1", lambda host: {})


def test_mariadb_set_client_networks_win(edit_yaml) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d.update(db_topology="galera", db_galera_arbitrator="web1",
                 db_client_networks=["10.20.0.%"])

    inventory = edit_yaml("group_vars/all/database.yml", mutate)
    got = role_inputs.mariadb(load_cluster(str(inventory)), "web1", no_facts)
    assert got["mariadb_client_networks"] == ["10.20.0.%"]
    assert (got["mariadb_topology"], got["mariadb_galera_arbitrator"]) == ("galera", "web1")


def test_common(example: Cluster, lab: Cluster) -> None:
    assert role_inputs.common(example, "probe1") == {
        "common_operator_networks": ["192.0.2.0/28"],
        "common_edge_management_port": 8888,
        "common_galera_arbitrator": "",
        "common_confsvc_port": 8080,
    }
    assert role_inputs.common(lab, "web1")["common_edge_management_port"] == 5071


def test_drill_probe_matches_the_drills(example: Cluster) -> None:
    assert role_inputs.drill_probe(example, "probe1") == {
        "drill_probe_dir": "/etc/clusterctl/drill",
        "drill_probe_callee": "9196",
        "drill_probe_hold_ms": 5000,
    }


def test_the_drills_dial_the_echo_test_the_freeswitch_role_answers() -> None:
    fs = yaml.safe_load((ROLES / "freeswitch/defaults/main.yml").read_text())
    probe = yaml.safe_load((ROLES / "drill_probe/defaults/main.yml").read_text())
    assert fs["freeswitch_features"]["echo"] == role_inputs.ECHO_NUMBER
    assert probe["drill_probe_callee"] == role_inputs.ECHO_NUMBER


def test_freeswitch_gets_its_shards_tenants_the_edges_and_the_vip(example: Cluster) -> None:
    got = role_inputs.freeswitch(example, "fs1b")
    assert got == {
        "freeswitch_source": "repo",
        "freeswitch_deb_dir": "",
        "freeswitch_sip_port": 5060,
        "freeswitch_edge_addresses": ["10.20.0.11", "10.20.0.12"],
        "freeswitch_edge_vip": "10.20.0.10",
        "freeswitch_esl_allowed_networks": ["192.0.2.0/28"],
        "freeswitch_tenants": [
            {"id": "acme", "domain": "acme.voice.example.com",
             "dids": ["+15550100100", "+15550100101"]},
            {"id": "globex", "domain": "globex.voice.example.com", "dids": ["+15550100200"]},
        ],
        "freeswitch_lab_echo_headers": False,
        # The example has a web tier: FreeSWITCH asks its local HAProxy.
        "freeswitch_xml_curl_url": "http://127.0.0.1:8088/freeswitch",
    }
    assert [t["id"] for t in role_inputs.freeswitch(example, "fs2a")["freeswitch_tenants"]] == [
        "initech"
    ]


def test_freeswitch_in_the_lab_installs_from_the_package_directory(tmp_path: Path) -> None:
    out = tmp_path / "lab"
    write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "key",
                    known_hosts=tmp_path / "known_hosts", lab_name="clusterctl-lab",
                    package_dir=tmp_path / "debs", feature_servers="freeswitch")
    got = role_inputs.freeswitch(load_cluster(str(out)), "fs2b")
    assert (got["freeswitch_source"], got["freeswitch_deb_dir"]) == ("debs", str(tmp_path / "debs"))
    assert got["freeswitch_lab_echo_headers"] is True


def test_rolling_halves_keep_one_server_of_every_shard_up(example: Cluster) -> None:
    side = {h: role_inputs.for_role("rolling_side", example, h, no_facts)["feature_server_side"]
            for h in example.members("feature_servers")}
    for shard in example.settings.shards.values():
        assert (side[shard.primary], side[shard.secondary]) == ("primary", "secondary")
    # Equal halves: playbooks/feature_servers.yml's serial 50% splits exactly between them.
    assert list(side.values()).count("primary") == len(side) / 2


def test_for_role_refuses_what_it_cannot_compute(example: Cluster) -> None:
    with pytest.raises(BadInput, match="no computed inputs for role 'sipp_standin'"):
        role_inputs.for_role("sipp_standin", example, "fs1a", no_facts)
    with pytest.raises(BadInput, match="keepalived runs on group sip_edge; db1 is not in it"):
        role_inputs.for_role("keepalived", example, "db1", no_facts)
    with pytest.raises(BadInput, match="freeswitch runs on group feature_servers; edge1 is not"):
        role_inputs.for_role("freeswitch", example, "edge1", no_facts)
    with pytest.raises(BadInput, match="confsvc runs on group web; fs1a is not in it"):
        role_inputs.for_role("confsvc", example, "fs1a", no_facts)
    with pytest.raises(BadInput, match="confsvc_proxy runs on group feature_servers; web1 is"):
        role_inputs.for_role("confsvc_proxy", example, "web1", no_facts)


def test_confsvc_answers_the_feature_servers_with_their_shards(example: Cluster) -> None:
    got = role_inputs.confsvc(example, "web2")
    config = got["confsvc_config"]
    assert config["database"] == {"hosts": ["10.20.0.31:3306", "10.20.0.32:3306"],
                                  "timeout_s": CONFSVC_DB_TIMEOUT_MS / 1000,
                                  "retry_s": EDGE_DB_RETRY_S}
    # A silent database node costs a lookup or a health check one timeout before the retry
    # on the other node: that must fit in HAProxy's check and server timeouts with room left.
    assert 2 * CONFSVC_DB_TIMEOUT_MS <= CONFSVC_PROXY_SERVER_TIMEOUT_MS
    assert CONFSVC_DB_TIMEOUT_MS + 100 <= CONFSVC_PROXY_CHECK_TIMEOUT_MS
    assert config["clients"] == {
        "fs1a": {"address": "10.20.0.21", "shard": "shard1"},
        "fs1b": {"address": "10.20.0.22", "shard": "shard1"},
        "fs2a": {"address": "10.20.0.23", "shard": "shard2"},
        "fs2b": {"address": "10.20.0.24", "shard": "shard2"},
    }
    # The proxies' health checks come from the feature servers; the role checks from the node.
    assert config["health_clients"] == [
        "127.0.0.1", "10.20.0.41", "10.20.0.42",
        "10.20.0.21", "10.20.0.22", "10.20.0.23", "10.20.0.24",
    ]
    assert config["edge"] == {"vip": "10.20.0.10", "port": 5060}
    assert config["sofia_profile"] == "edge"
    assert (got["confsvc_port"], got["confsvc_url_path"]) == (8080, "/freeswitch")
    dests = [source["dest"] for source in got["confsvc_sources"]]
    assert "clusterctl/confsvc/wsgi.py" in dests
    assert all(Path(source["src"]).is_file() for source in got["confsvc_sources"])


def test_confsvc_config_is_one_the_service_accepts(example: Cluster, tmp_path: Path) -> None:
    config = dict(role_inputs.confsvc(example, "web1")["confsvc_config"])
    config["database"] = {**config["database"], "password_file": str(tmp_path / "secret")}
    path = tmp_path / "confsvc.yml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path)
    assert loaded.client_named("10.20.0.23") is not None
    assert [str(e.host) for e in loaded.database.endpoints()] == ["10.20.0.31", "10.20.0.32"]


def test_the_proxy_on_each_feature_server_fronts_both_web_nodes(example: Cluster) -> None:
    assert role_inputs.confsvc_proxy(example, "fs2b") == {
        "confsvc_proxy_backends": [
            {"name": "web1", "address": "10.20.0.41", "port": 8080},
            {"name": "web2", "address": "10.20.0.42", "port": 8080},
        ],
        "confsvc_proxy_port": 8088,
        "confsvc_proxy_health_path": "/freeswitch/health",
        "confsvc_proxy_check_inter_ms": 1000,
        "confsvc_proxy_check_fastinter_ms": 250,
        "confsvc_proxy_check_timeout_ms": 500,
        "confsvc_proxy_check_fall": 2,
        "confsvc_proxy_check_rise": 2,
        "confsvc_proxy_connect_timeout_ms": 300,
        "confsvc_proxy_server_timeout_ms": 700,
    }


def test_without_web_hosts_freeswitch_keeps_its_static_xml(edit_yaml) -> None:
    def drop_web(hosts: dict[str, Any]) -> None:
        del hosts["all"]["children"]["web"]
        del hosts["all"]["children"]["storage"]  # its bricks are on the web hosts

    cluster = load_cluster(str(edit_yaml("hosts.yml", drop_web)))
    assert role_inputs.freeswitch(cluster, "fs1a")["freeswitch_xml_curl_url"] == ""


@pytest.mark.parametrize("role", role_inputs.ROLES)
def test_no_secret_is_ever_an_input(example: Cluster, role: str) -> None:
    secrets = {str(getattr(example.settings, key)) for key in SECRET_KEYS}
    group = {"freeswitch": "feature_servers", "confsvc_proxy": "feature_servers",
             "rolling_side": "feature_servers", "confsvc": "web"}.get(role, "sip_edge")
    host = example.members(group)[0]
    got = role_inputs.for_role(role, example, host, lambda h: FACTS)

    def leaves(value: object) -> list[str]:
        if isinstance(value, dict):
            return [leaf for v in value.values() for leaf in leaves(v)]
        if isinstance(value, list):
            return [leaf for v in value for leaf in leaves(v)]
        return [str(value)]

    assert not [k for k in got if "password" in k or "secret" in k]
    assert not secrets & set(leaves(got))


def test_spellings_the_model_normalises_reach_the_roles_as_written(edit_yaml) -> None:
    # Rendered files must not change with the model: 198.51.100.7 stays 198.51.100.7 (not
    # /32) in nftables.conf and kamailio.cfg, advert_int 1 stays 1 (not 1.0) in keepalived.conf.
    def mutate(d: dict[str, Any]) -> None:
        d["operator_networks"] = ["192.0.2.0/28", "198.51.100.7"]
        d["carriers"] = [{"name": "c1", "address": "203.0.113.9"}]
        d["vrrp_instances"][0]["advert_int"] = 1

    cluster = load_cluster(str(edit_yaml("group_vars/all/cluster.yml", mutate)))
    assert str(cluster.settings.carriers[0].address) == "203.0.113.9/32"
    assert role_inputs.common(cluster, "db1")["common_operator_networks"] == [
        "192.0.2.0/28", "198.51.100.7"
    ]
    (carrier,) = role_inputs.sip_edge(cluster, "edge1")["sip_edge_carriers"]
    assert carrier["address"] == "203.0.113.9"
    (instance,) = role_inputs.keepalived(cluster, "edge1")["keepalived_instances"]
    assert repr(instance["advert_int"]) == "1"
