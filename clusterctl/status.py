"""``clusterctl status``: one screen with the cluster's live state.

VIP owner, each edge node's engine (reachable, version), the dispatcher sets of the node
holding the VIP with each destination's state, the shard and tenants behind each set, the
registration count (the contacts the VIP holder serves, its own and those replicated from its
peer) and database health (clusterctl.db.health, as the monitor user). Every probe is bounded
by its client's timeout; a node that does not answer is shown as such, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clusterctl.db import MONITOR_USER
from clusterctl.db.health import NodeHealth, check_cluster
from clusterctl.edge.base import EdgeClient, EdgeManagementError
from clusterctl.errors import ClusterctlError
from clusterctl.freeswitch.esl import FreeSwitchClient
from clusterctl.model import Cluster
from clusterctl.nodes import edge_client, holds_address, host_of_uri


@dataclass(frozen=True)
class EdgeNode:
    """One edge node: is its engine answering, and does it hold the VIP."""

    host: str
    address: str
    holds_vip: bool | None
    version: str | None
    error: str | None


@dataclass(frozen=True)
class Dest:
    """One destination of a dispatcher set."""

    uri: str
    host: str | None
    state: str
    raw_state: str
    selectable: bool


@dataclass(frozen=True)
class SetState:
    """A dispatcher set with the shard and tenants it serves."""

    id: int
    shard: str | None
    tenants: list[str]
    destinations: list[Dest]


@dataclass(frozen=True)
class DbNode:
    """One database node's health as ``status`` shows it."""

    host: str
    address: str
    healthy: bool
    summary: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class FeatureServer:
    """One FreeSWITCH feature server: its calls and whether it refuses new ones (drained)."""

    host: str
    shard: str | None
    address: str
    calls: int | None
    paused: bool | None
    error: str | None


@dataclass
class ClusterStatus:
    """Everything ``status`` shows."""

    cluster: str
    engine: str
    vip: str
    vip_owners: list[str]
    edges: list[EdgeNode]
    sets: list[SetState] = field(default_factory=list)
    registrations: int | None = None
    database: list[DbNode] | None = None
    problems: list[str] = field(default_factory=list)
    # None when not read: the feature servers are the lab's stand-ins.
    feature_servers: list[FeatureServer] | None = None


# Exit codes of `clusterctl status`, for monitoring checks (README, CLI reference). Bad input
# (an unreadable inventory) exits with 2 as well: a check that cannot run is not healthy.
HEALTHY = 0
DEGRADED = 1
DOWN = 2


def verdict(status: ClusterStatus) -> int:
    """HEALTHY without problems; DOWN when calls cannot be served: no node or more than one
    (split brain) holds the VIP, the holder's engine does not answer, a dispatcher set has no
    usable destination, or no database node is healthy; DEGRADED for any other problem."""
    owners = [e for e in status.edges if e.host in status.vip_owners]
    if len(owners) != 1 or owners[0].error is not None:
        return DOWN
    if any(not any(d.selectable for d in ds.destinations) for ds in status.sets):
        return DOWN
    if status.database and not any(n.healthy for n in status.database):
        return DOWN
    return DEGRADED if status.problems else HEALTHY


def gather(
    cluster: Cluster,
    client_for_host: Callable[[str], EdgeClient],
    ask_addresses: Callable[[str], str],
    db_health: Callable[[Cluster], list[DbNode]] | None = None,
    fs_read: Callable[[str], tuple[int, bool]] | None = None,
) -> ClusterStatus:
    """Read the cluster's state; unreachable parts become ``problems``, not exceptions.

    ``fs_read(host)`` gives a feature server's (calls, paused) or raises ClusterctlError.
    """
    settings = cluster.settings
    vrrp = settings.edge_vrrp
    status = ClusterStatus(settings.cluster_name, settings.edge_engine, str(vrrp.vip), [], [])
    clients: dict[str, EdgeClient] = {}
    for host in cluster.members("sip_edge"):
        address = str(cluster.hosts[host].address)
        try:
            holds: bool | None = holds_address(ask_addresses(host), str(vrrp.vip))
        except (OSError, RuntimeError) as exc:
            holds = None
            status.problems.append(f"{host}: cannot read its addresses: {exc}")
        client = client_for_host(address)
        try:
            version, error = client.version(), None
            clients[host] = client
        except EdgeManagementError as exc:
            version, error = None, exc.message
            status.problems.append(f"{host}: {exc.message}")
        status.edges.append(EdgeNode(host, address, holds, version, error))
        if holds:
            status.vip_owners.append(host)
    if len(status.vip_owners) != 1:
        status.problems.append(
            f"VIP {vrrp.vip} held by {len(status.vip_owners)} nodes "
            f"({', '.join(status.vip_owners) or 'none'})"
        )
    active = next((clients[h] for h in status.vip_owners if h in clients), None)
    if active is not None:
        _read_edge(cluster, active, status)
    if db_health is not None:
        status.database = db_health(cluster)
        status.problems += [
            f"database {n.host}: {n.summary}" for n in status.database if not n.healthy
        ]
    if fs_read is not None:
        status.feature_servers = [_feature_server(cluster, h, fs_read, status)
                                  for h in cluster.members("feature_servers")]
    return status


class HostRunner(Protocol):
    """Runs a read-only command on a host (clusterctl.faults.DrillFaults)."""

    def run(self, host: str, argv: list[str]) -> str: ...


def reader(cluster: Cluster, backend: HostRunner) -> Callable[[], ClusterStatus]:
    """``gather`` with the live clients: edge management, ``ip addr`` over the fault
    backend's SSH (``backend.run``), database health when there are database hosts and the
    FreeSWITCH reader when the feature servers run it."""
    databases = database_health if cluster.members("databases") else None
    fs_read = freeswitch_reader(cluster)

    def read() -> ClusterStatus:
        return gather(
            cluster,
            lambda address: edge_client(cluster, address),
            lambda host: backend.run(host, ["ip", "-o", "-4", "addr", "show"]),
            databases,
            fs_read,
        )

    return read


def _feature_server(
    cluster: Cluster, host: str, read: Callable[[str], tuple[int, bool]], status: ClusterStatus
) -> FeatureServer:
    shard = _shard_of(cluster, {host})
    address = str(cluster.hosts[host].address)
    try:
        calls, paused = read(host)
    except ClusterctlError as exc:
        status.problems.append(f"{host}: {exc.message}")
        return FeatureServer(host, shard, address, None, None, exc.message)
    return FeatureServer(host, shard, address, calls, paused, None)


def freeswitch_reader(cluster: Cluster) -> Callable[[str], tuple[int, bool]] | None:
    """How ``gather`` reads a feature server (calls, paused) over its event socket; None when
    the feature servers are the lab's stand-ins. An unreadable ``fs_esl_password`` (vaulted,
    no vault password given) makes every read fail with that reason."""
    if cluster.feature_server_unit != "freeswitch" or not cluster.members("feature_servers"):
        return None
    password = cluster.secret("fs_esl_password")

    def read(host: str) -> tuple[int, bool]:
        if not password:
            raise ClusterctlError(
                "event socket: fs_esl_password cannot be read (vaulted? --vault-password-file)"
            )
        client = FreeSwitchClient(str(cluster.hosts[host].address), password)
        return client.calls_count(), client.inbound_paused()

    return read


def database_health(cluster: Cluster) -> list[DbNode]:
    """Health of every node of ``databases`` as the monitor user (db_monitor_password).

    Without a password every node is shown unhealthy with the reason (never raised).
    """
    hosts = cluster.members("databases")
    password = cluster.settings.db_monitor_password
    if not password:
        return [
            DbNode(h, str(cluster.hosts[h].address), False, "no db_monitor_password", {})
            for h in hosts
        ]
    nodes = check_cluster([str(cluster.hosts[h].address) for h in hosts], MONITOR_USER, password)
    return [_db_node(h, n) for h, n in zip(hosts, nodes, strict=True)]


def _db_node(host: str, node: NodeHealth) -> DbNode:
    if not node.reachable:
        summary = f"unreachable: {node.error}"
    elif node.galera is not None:
        g = node.galera
        summary = f"galera {g.cluster_status} {g.local_state}, size {g.cluster_size}"
    else:
        running = sum(c.running for c in node.replication)
        summary = f"replication {running}/{len(node.replication)} channels running"
        lag = [c.seconds_behind for c in node.replication if c.seconds_behind is not None]
        if lag:
            summary += f", {max(lag)} s behind"
        errors = [c.last_error for c in node.replication if c.last_error]
        if errors:
            summary += f", {errors[0]}"
    if node.read_only:
        summary += ", read-only"
    return DbNode(host, node.address, node.healthy, summary, asdict(node))


def _read_edge(cluster: Cluster, client: EdgeClient, status: ClusterStatus) -> None:
    host_of = host_of_uri({str(h.address): n for n, h in cluster.hosts.items() if h.address})
    try:
        status.registrations = client.registration_count()
    except EdgeManagementError as exc:
        status.problems.append(f"registrations: {exc.message}")
    try:
        sets = client.dispatcher_sets()
    except EdgeManagementError as exc:
        status.problems.append(exc.message)
        return
    for ds in sets:
        dests = [
            Dest(d.uri, host_of(d.uri), d.state.value, d.raw_state, d.selectable)
            for d in ds.destinations
        ]
        shard = _shard_of(cluster, {d.host for d in dests})
        tenants = [t.id for t in cluster.settings.tenants if shard and t.shard == shard]
        status.sets.append(SetState(ds.id, shard, tenants, dests))
        status.problems += [
            f"set {ds.id}: {d.uri} ({d.host}) is {d.raw_state}" for d in dests if not d.selectable
        ]


def _shard_of(cluster: Cluster, hosts: set[str | None]) -> str | None:
    for name, shard in cluster.settings.shards.items():
        if hosts and hosts <= {shard.primary, shard.secondary}:
            return name
    return None


def to_json(status: ClusterStatus, *, compact: bool = False) -> str:
    """The status as JSON (``--format json``); ``compact``: on one line (``--watch``)."""
    if compact:
        return json.dumps(asdict(status), sort_keys=True, separators=(",", ":")) + "\n"
    return json.dumps(asdict(status), indent=2, sort_keys=True) + "\n"


def render(status: ClusterStatus) -> Table:
    """The one-screen view (``--format pretty``)."""
    table = Table(
        title=f"cluster {status.cluster} ({status.engine}), VIP {status.vip}: "
        f"{', '.join(status.vip_owners) or 'no owner'}",
        show_lines=True,
    )
    table.add_column("what")
    table.add_column("state")
    for edge in status.edges:
        state = (
            f"[green]up[/] {escape(edge.version or '')}"
            if edge.error is None
            else f"[red]down[/] {escape(edge.error)}"
        )
        vip = {True: " (holds VIP)", False: "", None: " (VIP: unknown)"}[edge.holds_vip]
        table.add_row(f"edge {edge.host} {edge.address}", state + vip)
    for ds in status.sets:
        dests = "\n".join(
            f"{'[green]' if d.selectable else '[red]'}{escape(d.raw_state)}[/] "
            f"{escape(d.host or d.uri)}"
            for d in ds.destinations
        )
        table.add_row(
            f"set {ds.id} shard {ds.shard or '?'}\ntenants: {escape(', '.join(ds.tenants) or '-')}",
            dests,
        )
    table.add_row(
        "registrations", "unknown" if status.registrations is None else str(status.registrations)
    )
    for fs in status.feature_servers or []:
        if fs.error is not None:
            state = f"[red]{escape(fs.error)}[/]"
        else:
            # Paused is how `clusterctl drain` leaves a server: intended, but worth seeing.
            state = ("[yellow]paused (drained)[/] " if fs.paused else "[green]up[/] ") + (
                f"{fs.calls} calls"
            )
        table.add_row(f"feature server {fs.host} ({fs.shard or '?'})", state)
    for node in status.database or []:
        color = "green" if node.healthy else "red"
        table.add_row(f"database {node.host} {node.address}", f"[{color}]{escape(node.summary)}[/]")
    for problem in status.problems:
        table.add_row("[red]problem[/]", escape(problem))
    return table


def print_status(console: Console, status: ClusterStatus) -> None:
    """Print the pretty view."""
    console.print(render(status))
