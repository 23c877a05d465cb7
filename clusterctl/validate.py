"""Topology rules every cluster must satisfy before a host is touched.

One implementation serves ``clusterctl validate`` and the first play of ``playbooks/site.yml``
(through the ``cluster_validate`` action plugin), so both report exactly the same problems.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address

from clusterctl.errors import EXIT_BAD_INPUT, EXIT_FAILED, ClusterctlError
from clusterctl.model import (
    DB_PASSWORD_KEYS,
    Cluster,
    ModelErrors,
    Problem,
    build_cluster,
)

Rule = Callable[[Cluster], Iterator[Problem]]


def _hosts_have_addresses(cluster: Cluster) -> Iterator[Problem]:
    seen: dict[IPv4Address, str] = {}
    for host in cluster.hosts.values():
        raw = host.vars.get("ansible_host")
        if raw is None:
            yield Problem(f"host {host.name}", "has no address", "set ansible_host to its IPv4")
            continue
        if host.address is None:
            yield Problem(
                f"host {host.name}",
                f"ansible_host '{raw}' is not an IPv4 address",
                "use the host's address on the cluster network",
            )
            continue
        if host.address in seen:
            yield Problem(
                f"host {host.name}",
                f"address {host.address} is also host {seen[host.address]}'s",
                "give every host its own address",
            )
        seen[host.address] = host.name


def _vrrp_pairs(cluster: Cluster) -> Iterator[Problem]:
    instances = cluster.settings.vrrp_instances
    if not cluster.settings.edge_vrrp_instances:
        yield Problem("vrrp_instances", "no instance for group sip_edge", "add the edge VIP")
    addresses = {h.address: h.name for h in cluster.hosts.values() if h.address}
    per_network: dict[str, list[str]] = defaultdict(list)
    for inst in instances:
        where = f"vrrp instance {inst.name}"
        members = cluster.members(inst.group)
        if len(members) != 2:
            yield Problem(
                where,
                f"group {inst.group} has {len(members)} host(s); a VRRP pair needs exactly 2",
                f"put exactly two hosts in group {inst.group}",
            )
        net = inst.network
        if inst.vip in (net.network_address, net.broadcast_address):
            yield Problem(where, f"VIP {inst.vip} is the network or broadcast address of {net}")
        if inst.vip in addresses:
            yield Problem(
                where,
                f"VIP {inst.vip} is host {addresses[inst.vip]}'s own address",
                "pick an unused address in the hosts' subnet",
            )
        for name in members:
            address = cluster.hosts[name].address
            if address is not None and address not in net:
                yield Problem(
                    where,
                    f"host {name} ({address}) is not in the VIP's subnet {net}",
                    "put the VIP in the hosts' subnet or fix prefix",
                )
        per_network[f"{net}/{inst.router_id}"].append(inst.name)
    for key, names in per_network.items():
        if len(names) > 1:
            network, router_id = key.rsplit("/", 1)
            yield Problem(
                f"vrrp instances {', '.join(names)}",
                f"share router_id {router_id} on network {network}",
                "give each instance on a network its own router_id",
            )
    vips = Counter(inst.vip for inst in instances)
    for vip, count in vips.items():
        if count > 1:
            yield Problem("vrrp_instances", f"VIP {vip} is used by {count} instances")


def _shards(cluster: Cluster) -> Iterator[Problem]:
    features = set(cluster.members("feature_servers"))
    for name, shard in cluster.settings.shards.items():
        where = f"shard {name}"
        if shard.primary == shard.secondary:
            yield Problem(
                where,
                f"primary and secondary are both {shard.primary}",
                "use two different feature servers",
            )
        for role in ("primary", "secondary"):
            host = getattr(shard, role)
            if host not in cluster.hosts:
                yield Problem(where, f"{role} {host} is not an inventory host")
            elif host not in features:
                yield Problem(where, f"{role} {host} is not in group feature_servers")
            elif cluster.hosts[host].shard != name:
                yield Problem(
                    where,
                    f"{role} {host} has shard '{cluster.hosts[host].shard}'",
                    f"set shard: {name} in host_vars of {host}",
                )
    for host in sorted(features):
        shard_name = cluster.hosts[host].shard
        if shard_name is None:
            yield Problem(f"host {host}", "feature server without a shard", "set its 'shard'")
        elif shard_name not in cluster.settings.shards:
            yield Problem(
                f"host {host}",
                f"shard '{shard_name}' is not defined",
                f"define it in shards or use one of {', '.join(cluster.settings.shards)}",
            )


def _tenants(cluster: Cluster) -> Iterator[Problem]:
    shards = cluster.settings.shards
    ids = Counter(t.id for t in cluster.settings.tenants)
    domains = Counter(t.domain for t in cluster.settings.tenants)
    did_owner: dict[str, str] = {}
    for tenant in cluster.settings.tenants:
        where = f"tenant {tenant.id}"
        if tenant.shard not in shards:
            yield Problem(
                where,
                f"shard '{tenant.shard}' does not exist",
                f"use one of {', '.join(shards)}",
            )
        if ids[tenant.id] > 1:
            yield Problem(where, "tenant id is used more than once", "tenant ids must be unique")
        if domains[tenant.domain] > 1:
            yield Problem(where, f"domain {tenant.domain} is used by another tenant")
        for did in tenant.dids:
            if did in did_owner and did_owner[did] != tenant.id:
                yield Problem(where, f"DID {did} also belongs to tenant {did_owner[did]}")
            did_owner.setdefault(did, tenant.id)


def _databases(cluster: Cluster) -> Iterator[Problem]:
    settings = cluster.settings
    nodes = cluster.members("databases")
    arbitrator = settings.db_galera_arbitrator
    if settings.db_topology == "master_master":
        if len(nodes) != 2:
            yield Problem(
                "group databases",
                f"master_master needs exactly 2 nodes, found {len(nodes)}",
                "use 2 nodes, or db_topology: galera for 3",
            )
        if arbitrator:
            yield Problem("db_galera_arbitrator", "is set but db_topology is master_master")
    else:
        if arbitrator:
            if arbitrator not in cluster.hosts:
                yield Problem("db_galera_arbitrator", f"{arbitrator} is not an inventory host")
            elif arbitrator in nodes:
                yield Problem(
                    "db_galera_arbitrator",
                    f"{arbitrator} is a database node",
                    "run garbd on a host outside group databases",
                )
        if len(nodes) < 2 or (len(nodes) == 2 and not arbitrator):
            yield Problem(
                "group databases",
                f"galera with {len(nodes)} node(s) cannot keep quorum when one fails",
                "use 3 nodes, or 2 plus db_galera_arbitrator",
            )
    if nodes:
        for key in DB_PASSWORD_KEYS:
            value = getattr(settings, key)
            if value is None or not str(value).strip():
                yield Problem(
                    key,
                    "is required (there is no default)",
                    "set it in group_vars/all, preferably from an ansible-vault file",
                )


def _edge_secret(cluster: Cluster) -> Iterator[Problem]:
    secret = cluster.settings.edge_auth_secret
    if cluster.members("sip_edge") and (secret is None or not str(secret).strip()):
        yield Problem(
            "edge_auth_secret",
            "is required (there is no default): both edge nodes must sign digest nonces alike",
            "set it in group_vars/all from an ansible-vault file, e.g. 32 random characters",
        )


def _storage(cluster: Cluster) -> Iterator[Problem]:
    bricks = cluster.members("storage")
    arbiter = cluster.settings.storage_arbiter
    if arbiter and arbiter not in bricks:
        yield Problem("storage_arbiter", f"{arbiter} is not in group storage")
    if bricks and len(bricks) != 3:
        yield Problem(
            "group storage",
            f"{len(bricks)} brick host(s); Gluster needs replica 3 or 2 + arbiter",
            "put exactly 3 hosts in group storage (set storage_arbiter for 2 + arbiter)",
        )


def _operators(cluster: Cluster) -> Iterator[Problem]:
    if not cluster.settings.operator_networks:
        yield Problem(
            "operator_networks",
            "is empty: SSH and management ports would be reachable from nowhere",
            "list the networks clusterctl and Ansible connect from, e.g. [192.0.2.0/28]",
        )


def _carriers(cluster: Cluster) -> Iterator[Problem]:
    names = Counter(c.name for c in cluster.settings.carriers)
    for name, count in names.items():
        if count > 1:
            yield Problem(f"carrier {name}", "name is used more than once")


RULES: tuple[Rule, ...] = (
    _hosts_have_addresses,
    _vrrp_pairs,
    _shards,
    _tenants,
    _databases,
    _edge_secret,
    _storage,
    _operators,
    _carriers,
)


def problems_of(cluster: Cluster) -> list[Problem]:
    """Every rule violation of ``cluster`` (empty when valid)."""
    return [problem for rule in RULES for problem in rule(cluster)]


def validate_data(
    groups: dict[str, list[str]], hostvars: dict[str, dict[str, object]]
) -> tuple[list[Problem], int]:
    """Model + rules on raw inventory data; returns (problems, exit code).

    Structural problems (wrong types, unknown keys or groups) exit with 2, topology rule
    violations with 1.
    """
    try:
        cluster = build_cluster(groups, hostvars)
    except ModelErrors as exc:
        return exc.problems, EXIT_BAD_INPUT
    found = problems_of(cluster)
    return found, (EXIT_FAILED if found else 0)


def check_inventory(source: str, vault_password_file: str | None = None) -> Cluster:
    """Load and validate ``source``; raises ClusterctlError listing every problem."""
    from clusterctl.inventory import read_inventory  # noqa: PLC0415

    groups, hostvars = read_inventory(source, vault_password_file)
    found, code = validate_data(groups, hostvars)
    if found:
        listing = "\n  ".join(str(p) for p in found)
        raise ClusterctlError(
            f"inventory {source} is not valid ({len(found)} problem(s)):\n  {listing}", code
        )
    return build_cluster(groups, hostvars)

