"""The typed cluster model built from an Ansible inventory.

The shape is documented in docs/inventory.md. ``build_cluster`` takes what any Ansible
entry point can provide (group membership and raw host variables), so the CLI loader and the
``cluster_validate`` action plugin in ``playbooks/site.yml`` build exactly the same model.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, ip_address
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from clusterctl.engines import DEFAULT_ENGINE, EDGE_GROUP, EngineName
from clusterctl.web import WEB_GROUP

# Also the lab's groups (clusterctl.lab.topology) and roles/common __common_cluster_groups.
KNOWN_GROUPS = (EDGE_GROUP, "feature_servers", "databases", WEB_GROUP, "storage", "probes")
# Groups Ansible itself defines.
IMPLICIT_GROUPS = ("all", "ungrouped")

# Tenant ids, names and domains end up in SIP headers, FreeSWITCH XML and SQL: only characters
# that need no escaping in any of them are accepted.
SafeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
SafeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")]
Domain = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$",
    ),
]
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{5,14}$")]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
Permission = Literal["internal", "local", "national", "international", "premium"]
# What answers SIP on a lab's feature servers (LabSettings.feature_servers).
FeatureServerKind = Literal["freeswitch", "standin"]

DB_PASSWORD_KEYS = (
    "db_root_password",
    "db_replication_password",
    "db_edge_password",
    "db_config_password",
    "db_cdr_password",
    "db_monitor_password",
)
# Every secret the inventory must set (none has a default).
SECRET_KEYS = (*DB_PASSWORD_KEYS, "edge_auth_secret", "fs_esl_password")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VrrpInstance(_Strict):
    """One VRRP instance: a pair of hosts sharing a virtual IP."""

    name: SafeId
    group: HostName = EDGE_GROUP
    vip: IPv4Address
    prefix: int = Field(ge=8, le=30)
    router_id: int = Field(ge=1, le=255)
    interface: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,15}$")] = "eth0"
    # VRRPv3 allows centisecond steps; the lab measures how low it can go without flapping.
    advert_int: float = Field(default=1.0, ge=0.01, le=40.0)

    @property
    def network(self) -> IPv4Network:
        """The subnet the VIP and its hosts live on."""
        return IPv4Network(f"{self.vip}/{self.prefix}", strict=False)


class Dispatcher(_Strict):
    """Probing and failover timers of the edge's dispatcher (seconds)."""

    ping_interval: int = Field(default=2, ge=1, le=300)
    probing_threshold: int = Field(default=2, ge=1, le=10)
    # OpenSIPS refuses fr_timeout below 2 s at start-up.
    invite_timeout: int = Field(default=2, ge=2, le=60)


class Shard(_Strict):
    """A feature-server shard: the primary takes every call, the secondary only on failure."""

    primary: HostName
    secondary: HostName


class Tenant(_Strict):
    """A tenant: a SIP domain served by one shard."""

    id: SafeId
    name: SafeName
    domain: Domain
    shard: SafeId
    dids: list[E164] = []
    permissions: list[Permission] = []


# Calls from a carrier's network skip digest auth: a network wider than this (fewer prefix
# bits) is refused unless the carrier sets allow_wide_network.
CARRIER_MIN_PREFIX = 16


class Carrier(_Strict):
    """A trusted peer (carrier or PBX) authenticated by its address."""

    name: SafeId
    address: IPv4Network
    port: int | None = Field(default=None, ge=1, le=65535)
    # Opt-in for a network wider than /CARRIER_MIN_PREFIX (never 0.0.0.0/0).
    allow_wide_network: bool = False


class DrillThresholds(_Strict):
    """Pass/fail limits of the drills; unset ones are computed from the timers."""

    detection_idle_s: float | None = Field(default=None, gt=0)
    detection_traffic_s: float | None = Field(default=None, gt=0)
    reinclusion_s: float | None = Field(default=None, gt=0)
    max_flaps: int | None = Field(default=None, ge=0)
    max_failed_calls: int | None = Field(default=None, ge=0)
    pdd_p99_s: float | None = Field(default=None, gt=0)
    vip_takeover_s: float | None = Field(default=None, gt=0)


class LabSettings(_Strict):
    """Present only in inventories written by ``clusterctl lab up``."""

    name: SafeId
    network: SafeId
    subnet: IPv4Network
    # What answers on the feature servers: FreeSWITCH from the package directory, or the
    # SIPp stand-in (roles/sipp_standin) where no FreeSWITCH package is at hand.
    feature_servers: FeatureServerKind = "standin"


def fault_fields(host: str, address: str) -> dict[str, str]:
    """What a drill fills in a fault command (clusterctl.faults.ProductionFaults)."""
    return {"host": host, "address": address}


FAULT_PLACEHOLDERS = tuple(fault_fields("", ""))


class FaultCommands(_Strict):
    """Operator commands for faults that cannot be done from inside a host.

    ``{host}`` and ``{address}`` (FAULT_PLACEHOLDERS) are replaced by the target's inventory
    name and address.
    """

    freeze: str | None = None
    thaw: str | None = None
    restart: str | None = None


class ClusterSettings(_Strict):
    """Cluster-wide settings, defined in ``group_vars/all/``."""

    cluster_name: SafeId
    edge_engine: EngineName = DEFAULT_ENGINE
    vrrp_instances: list[VrrpInstance] = Field(min_length=1)
    dispatcher: Dispatcher = Dispatcher()
    db_topology: Literal["master_master", "galera"] = "master_master"
    db_galera_arbitrator: HostName | None = None
    # MariaDB host patterns application users may log in from (10.20.0.% or
    # 10.20.0.0/255.255.255.0); unset: the first database node's network.
    db_client_networks: list[
        Annotated[str, StringConstraints(pattern=r"^[0-9.%_/]{1,64}$")]
    ] | None = None
    storage_arbiter: HostName | None = None
    shards: dict[SafeId, Shard] = Field(min_length=1)
    tenants: list[Tenant] = Field(min_length=1)
    carriers: list[Carrier] = []
    # Relay media through rtpengine on the edge (anchored on the VIP); off by default.
    edge_media_relay: bool = False
    # A directory on the controller holding .deb packages of OpenSIPS (and FreeSWITCH) for
    # sites that cannot use the vendors' apt repositories; the roles take only the packages
    # they need from it. Unset: the vendors' repositories.
    package_dir: str | None = None
    drill_thresholds: DrillThresholds = DrillThresholds()
    # Where operators (and clusterctl) connect from: SSH, management interfaces, SQL.
    operator_networks: list[IPv4Network] = []
    lab: LabSettings | None = None
    fault_commands: FaultCommands | None = None
    # Secrets: required when the cluster has databases, never defaulted. Values may be vault
    # references ("{{ vault_db_root_password }}"); they are checked for presence only.
    db_root_password: str | None = None
    db_replication_password: str | None = None
    db_edge_password: str | None = None
    db_config_password: str | None = None
    db_cdr_password: str | None = None
    db_monitor_password: str | None = None
    # The edge's digest-auth nonce secret, the same on every edge node: a nonce one node gave
    # out is then accepted by its peer after a VIP takeover (required when there are edges).
    edge_auth_secret: str | None = None
    # The feature servers' event-socket password (FreeSWITCH's mod_event_socket), the same on
    # every feature server: `clusterctl drain` and `undrain` use it (required when there are
    # feature servers).
    fs_esl_password: str | None = None

    @property
    def edge_vrrp_instances(self) -> list[VrrpInstance]:
        """The VRRP instances of the edge pair, in inventory order."""
        return [v for v in self.vrrp_instances if v.group == EDGE_GROUP]

    @property
    def edge_vrrp(self) -> VrrpInstance:
        """The edge VIP's instance (the first of the edge's); ModelErrors when there is none,
        which clusterctl.validate reports before anything asks."""
        instances = self.edge_vrrp_instances
        if not instances:
            where = f"no instance for group {EDGE_GROUP}"
            raise ModelErrors([Problem("vrrp_instances", where, "add the edge VIP")])
        return instances[0]


SETTING_KEYS = tuple(ClusterSettings.model_fields)


@dataclass(frozen=True)
class Host:
    """One inventory host with what the cluster needs to know about it."""

    name: str
    address: IPv4Address | None
    groups: frozenset[str]
    shard: str | None
    vars: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Cluster:
    """The validated shape of a cluster: its settings, hosts and groups."""

    settings: ClusterSettings
    hosts: dict[str, Host]
    groups: dict[str, tuple[str, ...]]

    def members(self, group: str) -> tuple[str, ...]:
        """Hosts of ``group`` in inventory order (empty when the group is absent)."""
        return self.groups.get(group, ())

    @property
    def is_lab(self) -> bool:
        """True for an inventory written by ``clusterctl lab up``."""
        return self.settings.lab is not None

    @property
    def feature_server_unit(self) -> str:
        """The systemd unit answering SIP on the feature servers (the drills stop and kill it):
        FreeSWITCH, or the lab's SIPp stand-in."""
        lab = self.settings.lab
        return "sipp-standin" if lab is not None and lab.feature_servers == "standin" else (
            "freeswitch"
        )

    def secret(self, key: str) -> str | None:
        """A secret setting's value, a plain ``{{ vault_x }}`` reference resolved.

        The reference is looked up in the host variables Ansible loaded (vault decrypted);
        anything else that needs templating is returned as None, so callers report the
        secret as missing instead of using a template string as a password.
        """
        value = getattr(self.settings, key)
        if value is None:
            return None
        found = _REFERENCE.match(value)
        if found is None:
            return None if "{{" in value else value
        for host in self.hosts.values():
            if found.group(1) in host.vars:
                resolved = str(host.vars[found.group(1)])
                return None if "{{" in resolved else resolved
        return None


_REFERENCE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an inventory: what it concerns, what is wrong, how to fix it."""

    where: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


class ModelErrors(Exception):
    """The inventory cannot even be turned into a model (wrong types, unknown keys)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def origin_of(value: object) -> str | None:
    """``file:line`` a value was read from, when Ansible recorded it (ansible-core >= 2.19)."""
    try:
        from ansible._internal._datatag._tags import Origin  # noqa: PLC0415
    except ImportError:  # older ansible-core: no origin tags
        return None
    tag = Origin.get_tag(value)
    if tag is None or not tag.path:
        return None
    return f"{tag.path}:{tag.line_num}" if tag.line_num else str(tag.path)


def _loc(path: tuple[int | str, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _subject(raw: dict[str, Any], path: tuple[int | str, ...]) -> str:
    """Name the tenant, shard or setting a validation error concerns, and where it was read."""
    where = _loc(path)
    if len(path) >= 2 and path[0] == "tenants" and isinstance(path[1], int):
        tenants = raw.get("tenants")
        if isinstance(tenants, list) and path[1] < len(tenants):
            item = tenants[path[1]]
            if isinstance(item, dict) and item.get("id"):
                where = f"tenant {item['id']}: {where}"
    node: Any = raw
    source = origin_of(raw.get(str(path[0]))) if path else None
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        source = origin_of(node) or source
    return f"{source}: {where}" if source else f"group_vars/all: {where}"


def _settings_problems(raw: dict[str, Any], exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        path = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(path[-1])
            parent = ClusterSettings
            hint = _did_you_mean(key, _nested_fields(parent, path[:-1]))
            problems.append(Problem(_subject(raw, path), "unknown key", hint))
        elif err["type"] == "missing":
            problems.append(Problem(_subject(raw, path), "required setting is missing"))
        else:
            problems.append(Problem(_subject(raw, path), err["msg"]))
    return problems


def _nested_fields(model: type[BaseModel], path: tuple[int | str, ...]) -> tuple[str, ...]:
    """Field names of the sub-model at ``path`` (for did-you-mean hints)."""
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        info = current.model_fields.get(str(part)) if hasattr(current, "model_fields") else None
        if info is None:
            return ()
        current = _model_in(info.annotation)
    return tuple(current.model_fields) if current is not None else ()


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside ``X``, ``list[X]``, ``dict[str, X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(key: str, candidates: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known keys: {', '.join(candidates)}" if candidates else "remove it"


# Variables Ansible and clusterctl set that are not cluster settings. ``vault_`` is Ansible's
# convention for the vaulted values settings refer to (``db_root_password: "{{ vault_... }}"``).
_NOT_SETTINGS_PREFIXES = (
    "ansible_",
    "inventory_",
    "group_names",
    "groups",
    "omit",
    "playbook_",
    "vault_",
)
_HOST_KEYS = ("shard",)


def _misspelt_settings(hostvars: dict[str, Any]) -> list[Problem]:
    """Top-level variables that look like a misspelt cluster setting (``tenats``)."""
    problems = []
    for key, value in hostvars.items():
        if key in SETTING_KEYS or key in _HOST_KEYS or key.startswith(_NOT_SETTINGS_PREFIXES):
            continue
        close = difflib.get_close_matches(key, SETTING_KEYS, n=1, cutoff=0.8)
        if close:
            where = origin_of(value) or "group_vars/all"
            problems.append(
                Problem(f"{where}: {key}", "unknown key", f"did you mean '{close[0]}'?")
            )
    return problems


def _address(name: str, hostvars: dict[str, Any]) -> IPv4Address | None:
    value = hostvars.get("ansible_host")
    if value is None:
        return None
    try:
        parsed = ip_address(str(value))
    except ValueError:
        return None
    return parsed if isinstance(parsed, IPv4Address) else None


def build_cluster(groups: dict[str, list[str]], hostvars: dict[str, dict[str, Any]]) -> Cluster:
    """Build the model from group membership and raw (untemplated) host variables.

    Raises ModelErrors when settings have wrong types, unknown keys or are missing, when a
    group is unknown, or when cluster settings differ between hosts (a setting defined outside
    ``group_vars/all``).
    """
    problems: list[Problem] = []
    for group in groups:
        if group not in KNOWN_GROUPS and group not in IMPLICIT_GROUPS:
            hint = _did_you_mean(group, KNOWN_GROUPS)
            problems.append(Problem(f"group {group}", "unknown group", hint))
    names = list(hostvars)
    if not names:
        raise ModelErrors([Problem("inventory", "has no hosts", "add the cluster's hosts")])

    first = hostvars[names[0]]
    raw = {key: first[key] for key in SETTING_KEYS if key in first}
    for name in names[1:]:
        for key in SETTING_KEYS:
            if hostvars[name].get(key) != raw.get(key):
                problems.append(
                    Problem(
                        f"host {name}: {key}",
                        f"differs from host {names[0]}'s value",
                        "define cluster settings in group_vars/all only",
                    )
                )
    misspelt = _misspelt_settings(first)
    problems.extend(misspelt)
    try:
        settings = ClusterSettings.model_validate(raw)
    except ValidationError as exc:
        # "tenats: did you mean 'tenants'?" already says that tenants is missing.
        meant = {p.fix.split("'")[1] for p in misspelt}
        problems.extend(p for p in _settings_problems(raw, exc) if p.where.split()[-1] not in meant)
    if problems:
        raise ModelErrors(problems)

    hosts = {}
    for name in names:
        hv = hostvars[name]
        member_of = frozenset(g for g, members in groups.items() if name in members)
        shard = hv.get("shard")
        hosts[name] = Host(
            name=name,
            address=_address(name, hv),
            groups=member_of,
            shard=str(shard) if shard is not None else None,
            vars=hv,
        )
    return Cluster(
        settings=settings,
        hosts=hosts,
        groups={g: tuple(m) for g, m in groups.items() if g not in IMPLICIT_GROUPS},
    )
