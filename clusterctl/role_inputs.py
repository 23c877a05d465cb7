"""Role inputs computed from the validated cluster model, one function per role.

Each function takes the :class:`~clusterctl.model.Cluster` and an inventory host name and
returns the role's prefixed inputs for that host as plain JSON-able values. The action plugin
``playbooks/action_plugins/cluster_role_inputs.py`` sets them as the host's facts before the
role runs, so a playbook maps model to role in one task (docs/inventory.md, "Role inputs").

Secrets are never returned: a playbook passes them through itself (``sip_edge_db_password:
"{{ db_edge_password }}"``), so vault references are resolved by Ansible and the facts stay
safe to print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clusterctl.confsvc.files import service_files
from clusterctl.db.connect import DEFAULT_PORT as DB_PORT
from clusterctl.drills.build import PROBE_DIR, PROBE_HOLD_S
from clusterctl.engines import (
    EDGE_DB_RETRY_S,
    EDGE_DB_TIMEOUT_S,
    EDGE_GROUP,
    EDGE_LOCATION_FLUSH_S,
    OPENSIPS_CLUSTER_ID,
    OPENSIPS_SHTAG,
    engine,
)
from clusterctl.errors import BadInput
from clusterctl.model import Cluster
from clusterctl.web import (
    CONFSVC_DB_TIMEOUT_MS,
    CONFSVC_PATH,
    CONFSVC_PORT,
    CONFSVC_PROXY_CHECK_FALL,
    CONFSVC_PROXY_CHECK_FASTINTER_MS,
    CONFSVC_PROXY_CHECK_INTER_MS,
    CONFSVC_PROXY_CHECK_RISE,
    CONFSVC_PROXY_CHECK_TIMEOUT_MS,
    CONFSVC_PROXY_CONNECT_TIMEOUT_MS,
    CONFSVC_PROXY_PORT,
    CONFSVC_PROXY_SERVER_TIMEOUT_MS,
    WEB_GROUP,
)

Inputs = dict[str, Any]
# A host's gathered facts (``ansible_facts``); empty when they were not gathered.
FactsOf = Callable[[str], Mapping[str, Any]]

# Every dispatcher destination is a feature server's SIP port; the primary is preferred.
FEATURE_SERVER_SIP_PORT = 5060
# The number every tenant's echo test answers on (roles/freeswitch freeswitch_features.echo):
# the drills' calls dial it, and the lab's SIPp stand-in answers any number.
ECHO_NUMBER = "9196"
CARRIER_SIP_PORT = 5060
# The one SIP profile the freeswitch role writes (roles/freeswitch/vars __freeswitch_profile);
# the service's dial strings name it.
FREESWITCH_PROFILE = "edge"
PRIMARY_PRIORITY = 10
SECONDARY_PRIORITY = 5
# keepalived: the first host of the edge group starts with the highest priority and wins the
# first election.
FIRST_PRIORITY = 150
PRIORITY_STEP = 50
# Kamailio: only the VIP holder sends NAT keepalives (the backup's would leave from an
# address it does not hold).
_KAMAILIO_PING = "nathelper.enable_ping"


def _address(cluster: Cluster, host: str) -> str:
    return str(cluster.hosts[host].address)


def _addresses(cluster: Cluster, hosts: tuple[str, ...] | list[str]) -> list[str]:
    return [_address(cluster, h) for h in hosts]


def _as_written(cluster: Cluster, key: str) -> Any:
    """A cluster setting as the inventory spells it (the same on every host: build_cluster
    refuses anything else). The model normalises some spellings (198.51.100.7 to
    198.51.100.7/32, advert_int 1 to 1.0); the roles get the inventory's, so the files they
    render stay the same whichever way a setting is written."""
    return next(iter(cluster.hosts.values())).vars.get(key)


def common(cluster: Cluster, host: str) -> Inputs:
    """roles/common: who may administer the hosts and which ports the cluster's flows use."""
    s = cluster.settings
    return {
        "common_operator_networks": [
            str(n) for n in _as_written(cluster, "operator_networks") or []
        ],
        "common_edge_management_port": engine(s.edge_engine).management_port,
        "common_galera_arbitrator": s.db_galera_arbitrator or "",
        "common_confsvc_port": CONFSVC_PORT,
    }


def sip_edge(cluster: Cluster, host: str) -> Inputs:
    """roles/sip_edge: the engine, the VIP, the database nodes and the routing tables.

    Dispatcher set id = the shard's 1-based position in ``shards`` (docs/headers.md).
    """
    s = cluster.settings
    set_ids = {name: index for index, name in enumerate(s.shards, start=1)}
    return {
        "sip_edge_engine": s.edge_engine,
        "sip_edge_management_port": engine(s.edge_engine).management_port,
        "sip_edge_vip": str(s.edge_vrrp.vip),
        "sip_edge_db_hosts": _addresses(cluster, cluster.members("databases")),
        "sip_edge_db_timeout": EDGE_DB_TIMEOUT_S,
        "sip_edge_db_retry_interval": EDGE_DB_RETRY_S,
        "sip_edge_location_flush_interval": EDGE_LOCATION_FLUSH_S,
        "sip_edge_rtpengine": s.edge_media_relay,
        # OpenSIPS from the vendor's apt repository, or from the inventory's package directory.
        "sip_edge_opensips_source": "debs" if s.package_dir else "apt",
        "sip_edge_opensips_deb_dir": s.package_dir or "",
        "sip_edge_ping_interval": s.dispatcher.ping_interval,
        "sip_edge_probing_threshold": s.dispatcher.probing_threshold,
        "sip_edge_invite_timeout": s.dispatcher.invite_timeout,
        "sip_edge_tenants": [
            {**t.model_dump(mode="json"), "set_id": set_ids[t.shard]} for t in s.tenants
        ],
        "sip_edge_dispatcher_sets": [
            {
                "id": set_ids[name],
                "name": name,
                "destinations": [
                    _destination(cluster, shard.primary, PRIMARY_PRIORITY),
                    _destination(cluster, shard.secondary, SECONDARY_PRIORITY),
                ],
            }
            for name, shard in s.shards.items()
        ],
        "sip_edge_feature_servers": [
            {"name": h, "address": _address(cluster, h)} for h in cluster.members("feature_servers")
        ],
        "sip_edge_carriers": [
            {"name": c.name, "address": str(w["address"]), "port": c.port or CARRIER_SIP_PORT}
            for c, w in zip(s.carriers, _as_written(cluster, "carriers") or [], strict=True)
        ],
    }


def _destination(cluster: Cluster, host: str, priority: int) -> Inputs:
    return {
        "name": host,
        "address": _address(cluster, host),
        "port": FEATURE_SERVER_SIP_PORT,
        "priority": priority,
    }


def keepalived(cluster: Cluster, host: str) -> Inputs:
    """roles/keepalived on an edge node: the edge's VRRP instances, this node's priority, what
    to track and check, and what to tell the engine on each VRRP transition."""
    s = cluster.settings
    facts = engine(s.edge_engine)
    pair = cluster.members(EDGE_GROUP)
    address = _address(cluster, host)
    # Everything the edge talks to: cut off from all of it, the node is isolated.
    neighbours = [
        h
        for h in (*cluster.members("databases"), *cluster.members("feature_servers"), *pair)
        if h != host
    ]
    return {
        "keepalived_instances": [
            {**v.model_dump(mode="json"), **{k: w[k] for k in ("advert_int",) if k in w}}
            for v, w in zip(s.vrrp_instances, _as_written(cluster, "vrrp_instances"), strict=True)
            if v in s.edge_vrrp_instances
        ],
        "keepalived_priority": FIRST_PRIORITY - PRIORITY_STEP * pair.index(host),
        "keepalived_track_unit": facts.unit,
        # Process tracking needs the kernel's process-event connector, absent inside the lab's
        # containers; the unit's tracked file and the SIP check cover the lab.
        "keepalived_track_process": "" if cluster.is_lab else facts.process,
        "keepalived_sip_check_address": address,
        "keepalived_notify_rpc_url": facts.management_url(address),
        "keepalived_notify_rpc_calls": _notify_calls(s.edge_engine),
        "keepalived_reach_targets": _addresses(cluster, neighbours),
    }


def _notify_calls(name: str) -> Inputs:
    """What the engine is told on a VRRP transition. OpenSIPS: the VIP holder makes the
    sharing tag active (contact ownership, NAT pings). Kamailio: NAT keepalives follow the VIP."""
    if name == "kamailio":
        return {
            "MASTER": [{"method": _KAMAILIO_PING, "params": [1]}],
            "BACKUP": [{"method": _KAMAILIO_PING, "params": [0]}],
            "FAULT": [{"method": _KAMAILIO_PING, "params": [0]}],
        }
    tag = f"{OPENSIPS_SHTAG}/{OPENSIPS_CLUSTER_ID}"
    return {"MASTER": [{"method": "clusterer_shtag_set_active", "params": {"tag": tag}}]}


def mariadb(cluster: Cluster, host: str, facts_of: FactsOf) -> Inputs:
    """roles/mariadb: topology, nodes, arbitrator, edge schema and client networks.

    Unset ``db_client_networks`` means the first database node's own network, read from its
    gathered facts (``facts_of``); BadInput when they hold no default IPv4 route.
    """
    s = cluster.settings
    nodes = list(cluster.members("databases"))
    networks = s.db_client_networks
    if networks is None:
        networks = [_own_network(nodes[0], facts_of(nodes[0]))]
    return {
        "mariadb_topology": s.db_topology,
        "mariadb_nodes": nodes,
        "mariadb_galera_arbitrator": s.db_galera_arbitrator or "",
        "mariadb_edge_engine": s.edge_engine,
        "mariadb_client_networks": list(networks),
    }


def _own_network(node: str, facts: Mapping[str, Any]) -> str:
    """``network/netmask`` of the node's default IPv4 interface, MariaDB's host form."""
    ipv4 = facts.get("default_ipv4") or {}
    if not ipv4.get("network") or not ipv4.get("netmask"):
        raise BadInput(
            f"db_client_networks is unset and database node {node} has no gathered default "
            "IPv4 network to default it to: gather its facts in this play, or set "
            "db_client_networks in group_vars/all"
        )
    return f"{ipv4['network']}/{ipv4['netmask']}"


def drill_probe(cluster: Cluster, host: str) -> Inputs:
    """roles/drill_probe: where the drills read the scenarios, what their calls dial and how
    long a held call lasts."""
    return {
        "drill_probe_dir": PROBE_DIR,
        "drill_probe_callee": ECHO_NUMBER,
        "drill_probe_hold_ms": round(PROBE_HOLD_S * 1000),
    }


def _shard_of(cluster: Cluster, host: str) -> str:
    return next(
        name for name, sh in cluster.settings.shards.items() if host in (sh.primary, sh.secondary)
    )


def confsvc_url(cluster: Cluster) -> str:
    """FreeSWITCH's gateway-url: the local HAProxy; empty when the cluster has no web tier
    (FreeSWITCH then runs on its static XML alone)."""
    if not cluster.members(WEB_GROUP):
        return ""
    return f"http://127.0.0.1:{CONFSVC_PROXY_PORT}{CONFSVC_PATH}"


def confsvc(cluster: Cluster, host: str) -> Inputs:
    """roles/confsvc on a web node: the service's code, and its config: the database nodes,
    the feature servers it answers (each with its shard), who may ask /health (the proxies on
    the feature servers, the web nodes themselves), and the edge VIP calls go through."""
    s = cluster.settings
    fs_hosts = cluster.members("feature_servers")
    databases = _addresses(cluster, cluster.members("databases"))
    health = ["127.0.0.1", *_addresses(cluster, cluster.members(WEB_GROUP)),
              *_addresses(cluster, fs_hosts)]
    return {
        "confsvc_port": CONFSVC_PORT,
        "confsvc_url_path": CONFSVC_PATH,
        "confsvc_sources": [{"src": str(src), "dest": dest} for src, dest in service_files()],
        "confsvc_config": {
            "database": {
                "hosts": [f"{a}:{DB_PORT}" for a in databases],
                "timeout_s": CONFSVC_DB_TIMEOUT_MS / 1000,
                "retry_s": EDGE_DB_RETRY_S,
            },
            "clients": {
                str(fs): {"address": _address(cluster, fs), "shard": _shard_of(cluster, fs)}
                for fs in fs_hosts
            },
            "health_clients": list(dict.fromkeys(health)),
            "edge": {"vip": str(s.edge_vrrp.vip), "port": FEATURE_SERVER_SIP_PORT},
            "sofia_profile": FREESWITCH_PROFILE,
        },
    }


def confsvc_proxy(cluster: Cluster, host: str) -> Inputs:
    """roles/confsvc_proxy on a feature server: the web nodes behind the local HAProxy."""
    return {
        "confsvc_proxy_backends": [
            {"name": str(web), "address": _address(cluster, web), "port": CONFSVC_PORT}
            for web in cluster.members(WEB_GROUP)
        ],
        "confsvc_proxy_port": CONFSVC_PROXY_PORT,
        "confsvc_proxy_health_path": f"{CONFSVC_PATH}/health",
        "confsvc_proxy_check_inter_ms": CONFSVC_PROXY_CHECK_INTER_MS,
        "confsvc_proxy_check_fastinter_ms": CONFSVC_PROXY_CHECK_FASTINTER_MS,
        "confsvc_proxy_check_timeout_ms": CONFSVC_PROXY_CHECK_TIMEOUT_MS,
        "confsvc_proxy_check_fall": CONFSVC_PROXY_CHECK_FALL,
        "confsvc_proxy_check_rise": CONFSVC_PROXY_CHECK_RISE,
        "confsvc_proxy_connect_timeout_ms": CONFSVC_PROXY_CONNECT_TIMEOUT_MS,
        "confsvc_proxy_server_timeout_ms": CONFSVC_PROXY_SERVER_TIMEOUT_MS,
    }


def freeswitch(cluster: Cluster, host: str) -> Inputs:
    """roles/freeswitch on a feature server: where it installs from, who may send it calls
    (the edge nodes), where calls to registered users go back to (the VIP), and the tenants
    of its shard with their DIDs (a tenant of another shard is refused like an unknown one)."""
    s = cluster.settings
    shard = _shard_of(cluster, host)
    return {
        "freeswitch_source": "debs" if s.package_dir else "repo",
        "freeswitch_deb_dir": s.package_dir or "",
        "freeswitch_sip_port": FEATURE_SERVER_SIP_PORT,
        "freeswitch_edge_addresses": _addresses(cluster, cluster.members(EDGE_GROUP)),
        "freeswitch_edge_vip": str(s.edge_vrrp.vip),
        # clusterctl drains and reads the servers from the operators' networks.
        "freeswitch_esl_allowed_networks": [
            str(n) for n in _as_written(cluster, "operator_networks") or []
        ],
        "freeswitch_tenants": [
            {"id": t.id, "domain": t.domain, "dids": list(t.dids)}
            for t in s.tenants
            if t.shard == shard
        ],
        # Lab only: final responses name the server and the tenant it received, for the
        # contract suite and the drills.
        "freeswitch_lab_echo_headers": cluster.is_lab,
        "freeswitch_xml_curl_url": confsvc_url(cluster),
    }


def rolling_side(cluster: Cluster, host: str) -> Inputs:
    """Not a role: which half of a rolling deploy a feature server is in (its shard's
    ``primary`` or ``secondary``; every feature server is exactly one, validate says so)."""
    shard = cluster.settings.shards[_shard_of(cluster, host)]
    return {"feature_server_side": "primary" if shard.primary == host else "secondary"}


# Roles whose inputs need nothing but the model.
MODEL_ONLY: dict[str, Callable[[Cluster, str], Inputs]] = {
    "common": common,
    "sip_edge": sip_edge,
    "keepalived": keepalived,
    "drill_probe": drill_probe,
    "freeswitch": freeswitch,
    "confsvc": confsvc,
    "confsvc_proxy": confsvc_proxy,
    "rolling_side": rolling_side,
}
ROLES = (*MODEL_ONLY, "mariadb")


def for_role(role: str, cluster: Cluster, host: str, facts_of: FactsOf) -> Inputs:
    """The inputs of ``role`` on ``host``; BadInput for a role without computed inputs or a
    host the role cannot run on (not in its group)."""
    if role == "mariadb":
        return mariadb(cluster, host, facts_of)
    if role not in MODEL_ONLY:
        raise BadInput(f"no computed inputs for role {role!r} (roles: {', '.join(ROLES)})")
    if role in ("sip_edge", "keepalived") and host not in cluster.members(EDGE_GROUP):
        raise BadInput(f"role {role} runs on group {EDGE_GROUP}; {host} is not in it")
    group = {"freeswitch": "feature_servers", "confsvc_proxy": "feature_servers",
             "rolling_side": "feature_servers", "confsvc": WEB_GROUP}.get(role)
    if group is not None and host not in cluster.members(group):
        raise BadInput(f"role {role} runs on group {group}; {host} is not in it")
    return MODEL_ONLY[role](cluster, host)
