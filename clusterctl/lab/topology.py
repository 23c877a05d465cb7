"""Lab topology files: which hosts, their addresses and groups, the network they share.

A topology is a small YAML file (``topologies/<profile>.yml`` or ``--topology FILE``). Every
key is checked here so that ``lab up`` fails with one line before it creates anything.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterctl.errors import BadInput
from clusterctl.model import KNOWN_GROUPS

TOPOLOGIES = Path(__file__).resolve().parent / "topologies"
DB_TOPOLOGIES = ("master_master", "galera")
# Container names, volume names and hostnames are built from host names.
HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
TOP_KEYS = {"network", "edge_vip", "db_topology", "storage_arbiter", "shards", "hosts",
            "tenants", "carriers"}
TENANT_KEYS = {"id", "name", "domain", "shard", "dids", "permissions"}
CARRIER_KEYS = {"name", "address", "port"}
# The inventory model's SafeId (clusterctl/model.py).
CARRIER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class LabHost:
    """One lab host: its name (hostname and container suffix), address and groups."""

    name: str
    address: ipaddress.IPv4Address
    groups: tuple[str, ...]
    shard: str | None = None


@dataclass(frozen=True)
class Topology:
    """A parsed, checked topology."""

    source: str
    network_name: str
    subnet: ipaddress.IPv4Network
    edge_vip: ipaddress.IPv4Address
    db_topology: str
    storage_arbiter: str | None
    shards: dict[str, dict[str, str]]
    hosts: tuple[LabHost, ...]
    tenants: list[dict[str, Any]] = field(default_factory=list)
    carriers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The bridge's own address: the first one of the subnet."""
        return self.subnet.network_address + 1

    def host(self, name: str) -> LabHost:
        """The host called ``name``; BadInput naming the known hosts otherwise."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise BadInput(f"unknown lab host {name!r}: known hosts are "
                       f"{', '.join(h.name for h in self.hosts)}")

    def group(self, group: str) -> list[LabHost]:
        return [h for h in self.hosts if group in h.groups]


def profile_path(profile: str) -> Path:
    """The topology file of a built-in profile; BadInput for an unknown profile."""
    known = sorted(p.stem for p in TOPOLOGIES.glob("*.yml"))
    if profile not in known:
        raise BadInput(f"unknown lab profile {profile!r}: choose one of {', '.join(known)}")
    return TOPOLOGIES / f"{profile}.yml"


def load_topology(path: Path) -> Topology:
    """Read and check a topology file; BadInput (one line naming the file) when it is
    unreadable, not YAML, or inconsistent."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read topology file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInput(f"topology file {path} is not valid YAML{where}") from None
    try:
        return parse_topology(data, str(path))
    except BadInput as exc:
        raise BadInput(f"topology file {path}: {exc.message}") from None


def _need(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise BadInput(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise BadInput(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def _address(text: object, where: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(text))
    except ValueError:
        raise BadInput(f"{where}: {text!r} is not an IPv4 address") from None


def _parse_hosts(raw: dict[str, Any], subnet: ipaddress.IPv4Network) -> list[LabHost]:
    reserved = {subnet.network_address, subnet.broadcast_address, subnet.network_address + 1}
    hosts: list[LabHost] = []
    seen: dict[ipaddress.IPv4Address, str] = {}
    for name, spec in raw.items():
        where = f"host {name!r}"
        if not isinstance(name, str) or not HOST_NAME.match(name):
            raise BadInput(f"{where}: names are lower-case letters, digits and '-' (max 31)")
        if not isinstance(spec, dict):
            raise BadInput(f"{where}: expected a mapping with 'address' and 'groups'")
        unknown = set(spec) - {"address", "groups"}
        if unknown:
            raise BadInput(f"{where}: unknown key {sorted(unknown)[0]!r}")
        address = _address(_need(spec, "address", str, where), where)
        if address not in subnet or address in reserved:
            raise BadInput(f"{where}: address {address} is not a usable address of {subnet}")
        if address in seen:
            raise BadInput(f"{where}: address {address} is already used by {seen[address]}")
        seen[address] = name
        groups = _need(spec, "groups", list, where)
        for group in groups:
            if group not in KNOWN_GROUPS:
                known = ", ".join(KNOWN_GROUPS)
                raise BadInput(f"{where}: unknown group {group!r} (groups: {known})")
        hosts.append(LabHost(name, address, tuple(groups)))
    return hosts


def _parse_shards(raw: dict[str, Any], hosts: list[LabHost]) -> dict[str, str]:
    """Check shards against the feature servers; return host name -> shard name."""
    feature = {h.name for h in hosts if "feature_servers" in h.groups}
    shard_of: dict[str, str] = {}
    for shard, roles in raw.items():
        where = f"shard {shard!r}"
        if not isinstance(roles, dict) or set(roles) != {"primary", "secondary"}:
            raise BadInput(f"{where}: expected exactly 'primary' and 'secondary'")
        for member in roles.values():
            if member not in feature:
                raise BadInput(f"{where}: {member!r} is not a feature_servers host")
            if member in shard_of:
                raise BadInput(f"{where}: {member!r} is already in shard {shard_of[member]!r}")
            shard_of[member] = shard
    missing = sorted(feature - set(shard_of))
    if missing:
        raise BadInput(f"feature server {missing[0]!r} is in no shard")
    return shard_of


def _parse_carriers(raw: object, subnet: ipaddress.IPv4Network,
                    taken: set[ipaddress.IPv4Address]) -> list[dict[str, Any]]:
    """Check the carriers (peers trusted by source address); BadInput for the first problem.

    A carrier's network must lie in the lab subnet (the lab has no route elsewhere) and must
    not cover a lab host, the gateway or the VIP: the edge would trust that host as a carrier.
    """
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise BadInput("carriers: expected a list of mappings")
    carriers: list[dict[str, Any]] = []
    for spec in raw:
        name = spec.get("name")
        where = f"carrier {name!r}"
        extra = set(spec) - CARRIER_KEYS
        if extra:
            raise BadInput(f"{where}: unknown key {sorted(extra)[0]!r}")
        if not isinstance(name, str) or not CARRIER_NAME.match(name):
            raise BadInput(f"{where}: names are lower-case letters, digits, '_' and '-' (max 32)")
        if any(c["name"] == name for c in carriers):
            raise BadInput(f"{where}: name is used more than once")
        try:
            network = ipaddress.IPv4Network(str(_need(spec, "address", str, where)))
        except ValueError:
            raise BadInput(f"{where}: {spec['address']!r} is not an IPv4 address or "
                           "network") from None
        if not network.subnet_of(subnet):
            raise BadInput(f"{where}: {network} is not inside the lab subnet {subnet}")
        covered = sorted(a for a in taken if a in network)
        if covered:
            raise BadInput(f"{where}: {network} covers {covered[0]}, which is the gateway, the "
                           "VIP or a lab host")
        carrier: dict[str, Any] = {"name": name, "address": str(network)}
        if "port" in spec:
            port = spec["port"]
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise BadInput(f"{where}: port must be a number from 1 to 65535")
            carrier["port"] = port
        carriers.append(carrier)
    return carriers


def parse_topology(data: object, source: str = "<topology>") -> Topology:
    """Check a loaded topology mapping; BadInput with the first problem found."""
    if not isinstance(data, dict):
        raise BadInput("expected a mapping at the top")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise BadInput(f"unknown key {sorted(unknown)[0]!r}")
    net = _need(data, "network", dict, "network")
    network_name = _need(net, "name", str, "network")
    try:
        subnet = ipaddress.IPv4Network(_need(net, "subnet", str, "network"))
    except ValueError:
        raise BadInput(f"network: {net['subnet']!r} is not an IPv4 network") from None
    if not 16 <= subnet.prefixlen <= 28:
        raise BadInput(f"network: subnet {subnet} must be a /16 to /28")
    hosts = _parse_hosts(_need(data, "hosts", dict, "hosts"), subnet)
    edge_vip = _address(_need(data, "edge_vip", str, "edge_vip"), "edge_vip")
    if edge_vip not in subnet or edge_vip in {h.address for h in hosts} or edge_vip in {
            subnet.network_address, subnet.broadcast_address, subnet.network_address + 1}:
        raise BadInput(f"edge_vip: {edge_vip} must be a free address of {subnet}")
    db_topology = data.get("db_topology", "master_master")
    if db_topology not in DB_TOPOLOGIES:
        raise BadInput(f"db_topology: {db_topology!r} is not one of {', '.join(DB_TOPOLOGIES)}")
    shards = _need(data, "shards", dict, "shards")
    shard_of = _parse_shards(shards, hosts)
    hosts = [LabHost(h.name, h.address, h.groups, shard_of.get(h.name)) for h in hosts]
    arbiter = data.get("storage_arbiter")
    storage = [h.name for h in hosts if "storage" in h.groups]
    if arbiter is not None and arbiter not in storage:
        raise BadInput(f"storage_arbiter: {arbiter!r} is not a storage host")
    tenants = data.get("tenants", [])
    if not isinstance(tenants, list) or not all(isinstance(t, dict) for t in tenants):
        raise BadInput("tenants: expected a list of mappings")
    for tenant in tenants:
        extra = set(tenant) - TENANT_KEYS
        if extra:
            raise BadInput(f"tenant {tenant.get('id')!r}: unknown key {sorted(extra)[0]!r}")
        if tenant.get("shard") not in shards:
            raise BadInput(f"tenant {tenant.get('id')!r}: unknown shard {tenant.get('shard')!r}")
    taken = {h.address for h in hosts} | {edge_vip, subnet.network_address + 1}
    carriers = _parse_carriers(data.get("carriers", []), subnet, taken)
    return Topology(source, network_name, subnet, edge_vip, db_topology, arbiter,
                    {k: dict(v) for k, v in shards.items()}, tuple(hosts), tenants, carriers)


def find_clash(subnet: ipaddress.IPv4Network, docker_subnets: dict[str, list[str]],
               routes: list[str], own_network: str) -> str | None:
    """Describe the first network or route overlapping ``subnet``, or None.

    ``docker_subnets`` maps docker network names to their subnets (the lab's own network,
    ``own_network``, is not a clash: `up` reuses it); ``routes`` are host route destinations
    as printed by ``ip route`` ("default" is skipped: it overlaps everything).
    """
    for name, subnets in sorted(docker_subnets.items()):
        if name == own_network:
            continue
        for text in subnets:
            try:
                other = ipaddress.ip_network(text, strict=False)
            except ValueError:
                continue
            if other.version == 4 and other.overlaps(subnet):
                return f"docker network {name!r} ({other})"
    for dest in routes:
        if dest == "default":
            continue
        try:
            other = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        if other.version == 4 and other.overlaps(subnet):
            return f"host route {other}"
    return None
