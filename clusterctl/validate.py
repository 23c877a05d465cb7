"""Topology rules every cluster must satisfy before a host is touched.

One implementation serves ``clusterctl validate`` and the first play of ``playbooks/site.yml``
(through the ``cluster_validate`` action plugin), so both report exactly the same problems.
"""

from __future__ import annotations

import functools
import re
import shlex
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import yaml

from clusterctl import paths
from clusterctl.errors import EXIT_BAD_INPUT, EXIT_FAILED, ClusterctlError
from clusterctl.model import (
    CARRIER_MIN_PREFIX,
    DB_PASSWORD_KEYS,
    FAULT_PLACEHOLDERS,
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
    per_interface: dict[tuple[str, int], list[str]] = defaultdict(list)
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
        # Keyed by interface, not by the VIP's network: prefixes may disagree about which
        # instances share a LAN, and a clash of router ids there makes the peers fight.
        per_interface[(inst.interface, inst.router_id)].append(inst.name)
    for (interface, router_id), names in per_interface.items():
        if len(names) > 1:
            yield Problem(
                f"vrrp instances {', '.join(names)}",
                f"share router_id {router_id} on interface {interface}",
                "give each instance on an interface its own router_id",
            )
    for name, count in Counter(inst.name for inst in instances).items():
        if count > 1:
            yield Problem(
                f"vrrp instance {name}",
                f"name is used by {count} instances",
                "keepalived needs a unique name per instance",
            )
    by_vip: dict[IPv4Address, list[str]] = defaultdict(list)
    for inst in instances:
        by_vip[inst.vip].append(inst.name)
    for vip, names in by_vip.items():
        if len(names) > 1:
            yield Problem(f"vrrp instances {', '.join(names)}", f"all use VIP {vip}")


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
    named = {
        h for shard in cluster.settings.shards.values() for h in (shard.primary, shard.secondary)
    }
    for host in sorted(features - named):
        yield Problem(
            f"host {host}",
            "feature server is no shard's primary or secondary: it would take no calls",
            "name it in shards, or remove it from group feature_servers",
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
            yield from _secret_problems(cluster, key, "is required (there is no default)")


# A setting that only names another variable: ``"{{ vault_db_root_password }}"``.
_REFERENCE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_VAULT_FIX = (
    "fill it in group_vars/all/vault.yml, then `ansible-vault encrypt` that file and pass "
    "--vault-password-file"
)


def _resolve(cluster: Cluster, value: object) -> tuple[str | None, list[str]]:
    """Follow plain ``{{ name }}`` references through the inventory's variables.

    Returns (value, names followed); value is None when a name is not defined here or its
    value cannot be read (vaulted, and no vault password was given).
    """
    variables = next(iter(cluster.hosts.values())).vars
    followed: list[str] = []
    text = str(value)
    while (match := _REFERENCE.match(text)) and len(followed) < 10:
        name = match.group(1)
        followed.append(name)
        if name not in variables:
            return None, followed
        try:
            text = str(variables[name])
        except Exception:
            # A vaulted value without its password (Ansible's error types vary by version):
            # unreadable here, so the role checks it at run time.
            return None, followed
    return text, followed


def _secret_problems(cluster: Cluster, key: str, missing: str) -> Iterator[Problem]:
    """A required secret that is unset, empty, or refers to an undefined or empty variable."""
    raw = getattr(cluster.settings, key)
    if raw is None or not str(raw).strip():
        yield Problem(
            key,
            missing,
            f'set it in group_vars/all from an ansible-vault file: {key}: "{{{{ vault_{key} }}}}"',
        )
        return
    value, followed = _resolve(cluster, raw)
    # An undefined reference is not refused: a vault file given only at deploy time may define
    # it (inventory/example refers to a vault it does not ship). An empty one is never right.
    if value is not None and not value.strip():
        yield Problem(key, f"{followed[-1] if followed else key} is empty", _VAULT_FIX)


@functools.cache
def secret_pattern(role: str, name: str) -> str:
    """A role's rule for a secret it writes into a config (``roles/ROLE/vars/main.yml``).

    Read from the role so the rule is defined once; OSError or a KeyError means clusterctl's
    own packaged files are broken.
    """
    with (paths.ROLES / role / "vars" / "main.yml").open(encoding="utf-8") as handle:
        return str(yaml.safe_load(handle)[name])


@dataclass(frozen=True)
class _RoleSecret:
    """A secret a role writes into a config: required with ``group``, checked against the
    role's own rule (``rule``: role, variable in its vars/main.yml)."""

    key: str
    group: str
    why: str
    rule: tuple[str, str]
    shape: str
    fix: str


_ROLE_SECRETS = (
    _RoleSecret(
        "edge_auth_secret",
        "sip_edge",
        "both edge nodes must sign digest nonces alike",
        ("sip_edge", "sip_edge_auth_secret_pattern"),
        "16 or more letters, digits or ._~+/=- (it is written into the engine's config as a "
        "quoted string)",
        "e.g. `openssl rand -base64 24`",
    ),
    _RoleSecret(
        "fs_esl_password",
        "feature_servers",
        "clusterctl drains feature servers over their event socket",
        ("freeswitch", "freeswitch_esl_password_pattern"),
        "12 or more letters, digits or ._~+/=- (it is written into FreeSWITCH's XML)",
        "e.g. `openssl rand -base64 18`",
    ),
)


def _role_secrets(cluster: Cluster) -> Iterator[Problem]:
    """Each role secret of a group the cluster has: present, and (when it can be read here)
    matching the role's rule."""
    for spec in _ROLE_SECRETS:
        if not cluster.members(spec.group):
            continue
        missing = f"is required (there is no default): {spec.why}"
        found = list(_secret_problems(cluster, spec.key, missing))
        yield from found
        value, _ = _resolve(cluster, getattr(cluster.settings, spec.key))
        # A value still holding a template is computed by Ansible at run time: the role
        # checks it.
        if found or value is None or "{{" in value or "{%" in value:
            continue
        if not re.match(secret_pattern(*spec.rule), value):
            yield Problem(
                spec.key, f"value (masked, {len(value)} characters) must be {spec.shape}", spec.fix
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
    # Calls from a trusted network skip digest auth: a wide one lets anyone in it call out.
    for carrier in cluster.settings.carriers:
        where = f"carrier {carrier.name}"
        if carrier.address.prefixlen == 0:
            yield Problem(
                where,
                f"address {carrier.address} trusts the whole Internet without authentication",
                "list the carrier's own signalling addresses",
            )
        elif carrier.address.prefixlen < CARRIER_MIN_PREFIX and not carrier.allow_wide_network:
            yield Problem(
                where,
                f"address {carrier.address} is wider than /{CARRIER_MIN_PREFIX}: every address "
                "in it may call without authentication",
                "narrow it to the carrier's signalling addresses, or set "
                "allow_wide_network: true on this carrier",
            )


# Groups a host may not combine: each pair would share ports, firewall zones or failure
# domains that the cluster's redundancy assumes are separate (storage bricks may live anywhere).
CLASHING_GROUPS = (
    ("sip_edge", "feature_servers"),
    ("sip_edge", "databases"),
    ("sip_edge", "web"),
    ("sip_edge", "probes"),
    ("feature_servers", "databases"),
    ("feature_servers", "web"),
    ("feature_servers", "probes"),
    ("databases", "probes"),
    ("web", "probes"),
)


def _role_clashes(cluster: Cluster) -> Iterator[Problem]:
    for host in cluster.hosts.values():
        for first, second in CLASHING_GROUPS:
            if first in host.groups and second in host.groups:
                yield Problem(
                    f"host {host.name}",
                    f"is in both {first} and {second}",
                    "give each role its own host",
                )


# Groups whose hosts log in to the databases (the edge, FreeSWITCH, the configuration service).
DB_CLIENT_GROUPS = ("sip_edge", "feature_servers", "web")
_DB_WILDCARD = re.compile(r"^[0-9%_]{1,3}(\.[0-9%_]{1,3}){0,3}$")


def _db_host_matcher(pattern: str) -> Callable[[IPv4Address], bool] | None:
    """What MariaDB's host part ``pattern`` admits; None when MariaDB would not read it.

    MariaDB knows wildcards (``10.20.0.%``) and address/netmask (``10.20.0.0/255.255.255.0``),
    not CIDR prefixes: ``10.20.0.0/24`` matches no client at all.
    """
    if "/" in pattern:
        base, _, mask = pattern.partition("/")
        if "." not in mask:
            return None
        try:
            network = IPv4Network(f"{base}/{mask}")
        except ValueError:
            return None
        return lambda address: address in network
    if not _DB_WILDCARD.match(pattern) or ("%" not in pattern and pattern.count(".") != 3):
        return None
    regex = re.compile(
        "^" + "".join({"%": ".*", "_": "."}.get(c, re.escape(c)) for c in pattern) + "$"
    )
    return lambda address: bool(regex.match(str(address)))


def _db_clients(cluster: Cluster) -> Iterator[Problem]:
    patterns = cluster.settings.db_client_networks
    if patterns is None or not cluster.members("databases"):
        return
    matchers = []
    for pattern in patterns:
        matcher = _db_host_matcher(pattern)
        if matcher is None:
            yield Problem(
                "db_client_networks",
                f"'{pattern}' is not a MariaDB host pattern",
                "use a wildcard (10.20.0.%) or address/netmask (10.20.0.0/255.255.255.0), "
                "not a CIDR prefix",
            )
        else:
            matchers.append(matcher)
    if len(matchers) != len(patterns):
        return
    for group in DB_CLIENT_GROUPS:
        for name in cluster.members(group):
            address = cluster.hosts[name].address
            if address is not None and not any(match(address) for match in matchers):
                yield Problem(
                    f"host {name}",
                    f"{group} host {address} connects to the databases but is not in "
                    f"db_client_networks ({', '.join(patterns)})",
                    "add its network to db_client_networks",
                )


def _fault_commands(cluster: Cluster) -> Iterator[Problem]:
    commands = cluster.settings.fault_commands
    if commands is None:
        return
    fillable = ", ".join(f"{{{name}}}" for name in FAULT_PLACEHOLDERS)
    for action, command in commands.model_dump().items():
        if not command:
            continue
        where = f"fault_commands.{action}"
        try:
            fields = [
                (name, spec, conversion)
                for _text, name, spec, conversion in string.Formatter().parse(command)
                if name is not None
            ]
            shlex.split(command)
        except ValueError as exc:
            # The command itself is not shown: it may carry a credential (a BMC password).
            yield Problem(where, f"cannot be parsed: {exc}", f"use {fillable}")
            continue
        for name, spec, conversion in fields:
            if name not in FAULT_PLACEHOLDERS or spec or conversion:
                yield Problem(
                    where,
                    f"placeholder {{{name}}} is not one a drill fills",
                    f"use {fillable}; write {{{{ and }}}} for literal braces",
                )
    # A drill that freezes a host thaws it afterwards: without thaw it would stay frozen.
    if commands.freeze and not commands.thaw:
        yield Problem("fault_commands.thaw", "is not set but freeze is", "set both or neither")


RULES: tuple[Rule, ...] = (
    _hosts_have_addresses,
    _vrrp_pairs,
    _shards,
    _tenants,
    _databases,
    _role_secrets,
    _storage,
    _operators,
    _carriers,
    _role_clashes,
    _db_clients,
    _fault_commands,
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

