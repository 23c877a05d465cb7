"""Registrations and credentials in roles/sip_edge's Kamailio config.

Rendered through Ansible's Templar with the lab inputs of test_opensips_config: contacts in
memory replicated over DMQ to the other edge nodes only (never to or from anyone else), written
back to the database; credentials through the HA1 cache, one route for every digest check.
"""

from __future__ import annotations

import re

from test_edge_rtpengine import block, engine_cfg
from test_opensips_config import EDGE1, EDGE2


def cfg(**overrides: object) -> str:
    return engine_cfg("kamailio", False, **overrides)


def modparams(text: str, module: str, name: str) -> list[str]:
    return re.findall(rf'^modparam\("{module}", "{name}", "?(.*?)"?\)$', text, re.M)


def test_contacts_live_in_memory_and_are_written_back() -> None:
    text = cfg(sip_edge_location_flush_interval=7)
    assert modparams(text, "usrloc", "db_mode") == ["2"]
    assert modparams(text, "usrloc", "timer_interval") == ["7"]
    # Both nodes write back the contacts they share: an upsert, not a duplicate-key error.
    assert modparams(text, "usrloc", "db_insert_update") == ["1"]
    assert modparams(text, "dmq_usrloc", "enable") == ["1"]


def test_dmq_listens_on_the_host_and_notifies_only_the_peer() -> None:
    text = cfg(sip_edge_cluster_port=5599)
    assert f"listen=udp:{EDGE1}:5599" in text
    assert modparams(text, "dmq", "server_address") == [f"sip:{EDGE1}:5599"]
    assert modparams(text, "dmq", "notification_address") == [f"sip:{EDGE2}:5599"]
    assert "#!define DMQ_PORT 5599" in text
    peer = cfg(sip_edge_listen_address=EDGE2)
    assert modparams(peer, "dmq", "notification_address") == [f"sip:{EDGE1}:5566"]


def test_replication_is_taken_from_edge_nodes_on_the_cluster_port_only() -> None:
    text = cfg(sip_edge_cluster_nodes=[EDGE1, EDGE2, "172.29.10.13"])
    route = block(text, "route[DMQ]")
    admitted = re.findall(r'if \(\$si == "([\d.]+)"\) \{\s*dmq_handle_message\(\);', route)
    assert admitted == [EDGE2, "172.29.10.13"]
    assert '$Rp == DMQ_PORT && is_method("KDMQ")' in route
    assert route.rstrip().endswith('sl_send_reply("403", "Forbidden");\n\texit;')
    # Anything on the cluster port goes there, whatever its method.
    assert 'if (is_method("KDMQ") || $Rp == DMQ_PORT) {\n\t\troute(DMQ);' in text


def test_a_single_edge_takes_replication_from_nobody() -> None:
    text = cfg(sip_edge_cluster_nodes=[EDGE1])
    assert modparams(text, "dmq", "notification_address") == []
    assert "dmq_handle_message" not in block(text, "route[DMQ]")


def test_every_digest_check_goes_through_the_cache() -> None:
    text = cfg(sip_edge_auth_cache_ttl=45)
    assert 'modparam("htable", "htable", "auth=>size=14;autoexpire=45;")' in text
    assert "auth_check(" not in text.replace("pv_auth_check(", "")
    assert "auth_db" not in text
    for route, realm in (("route[REGISTRAR]", "$td"), ("route[FROM_USER]", "$fd")):
        assert f"$var(realm) = {realm};\n\troute(AUTH);" in block(text, route)
    auth = block(text, "route[AUTH]")
    # A wrong password from the cache is checked once more against the table.
    assert auth.count("route(AUTH_LOAD);") == 2
    assert "$var(rc) == -2 && $var(loaded) == 0" in auth
    load = block(text, "route[AUTH_LOAD]")
    assert "$(au{sql.val})" in load and "$(var(realm){sql.val})" in load
