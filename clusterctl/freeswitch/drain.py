"""Drain and undrain a feature server: take it out of the edge's selection gracefully.

Drain, in this order:
1. refuse when the other server of the shard is not available on every edge node (the
   tenants would have no server left) unless ``force``;
2. set the server inactive in the dispatcher of **both** edge nodes (each keeps its own
   state in memory), so no edge routes a new call to it;
3. ``fsctl pause inbound`` on the server: a straggler INVITE gets 503 and fails over, and
   the edges' OPTIONS probes get 503 too (``sip-options-respond-503-on-busy``);
4. poll ``show calls count`` until 0 or the deadline, and report.
Undrain: ``fsctl resume inbound`` first (the server can take calls again), then active on both
edge nodes.

Failure modes: an edge or the server that cannot be reached raises EdgeManagementError or
EslError (the steps already done are in the message); a deadline reached with calls left is
not an error: the report says ``drained=False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from clusterctl.edge.base import DestinationState, EdgeClient, EdgeManagementError
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.freeswitch.esl import DEFAULT_PORT, FreeSwitchClient
from clusterctl.model import Cluster
from clusterctl.nodes import edge_client

SIP_PORT = 5060


class FeatureServerControl(Protocol):
    """What drain needs from a feature server (clusterctl.freeswitch.esl.FreeSwitchClient)."""

    def calls_count(self) -> int: ...

    def pause_inbound(self) -> None: ...

    def resume_inbound(self) -> None: ...


@dataclass(frozen=True)
class DrainTarget:
    """A feature server as the edges know it: its dispatcher set and URI, and its peer."""

    host: str
    shard: str
    set_id: int
    uri: str
    peer: str
    peer_uri: str


@dataclass
class DrainReport:
    """What a drain or undrain did."""

    host: str
    action: str
    edges: list[str] = field(default_factory=list)
    calls_at_start: int | None = None
    calls_left: int | None = None
    waited_s: float = 0.0
    drained: bool = False
    forced: bool = False
    notes: list[str] = field(default_factory=list)


def uri_of(cluster: Cluster, host: str) -> str:
    """The dispatcher URI the edge roles render for ``host`` (sip:ADDRESS:5060)."""
    return f"sip:{cluster.hosts[host].address}:{SIP_PORT}"


def target_of(cluster: Cluster, host: str) -> DrainTarget:
    """Find ``host``'s shard, dispatcher set (1-based shard position) and peer.

    BadInput when ``host`` is not a feature server of any shard.
    """
    if host not in cluster.members("feature_servers"):
        servers = ", ".join(cluster.members("feature_servers")) or "none"
        raise BadInput(f"{host} is not a feature server (feature_servers: {servers})")
    for index, (name, shard) in enumerate(cluster.settings.shards.items(), start=1):
        if host in (shard.primary, shard.secondary):
            peer = shard.secondary if host == shard.primary else shard.primary
            return DrainTarget(
                host, name, index, uri_of(cluster, host), peer, uri_of(cluster, peer)
            )
    raise BadInput(f"{host} is in no shard (shards: {', '.join(cluster.settings.shards)})")


class Drainer:
    """Drain/undrain through the edge nodes' clients and the server's event socket.

    ``edges`` maps each edge host to its client; ``clock`` and ``sleep`` are replaceable
    for tests.
    """

    def __init__(
        self,
        cluster: Cluster,
        edges: Mapping[str, EdgeClient],
        server: FeatureServerControl,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cluster = cluster
        self.edges = edges
        self.server = server
        self.clock = clock
        self.sleep = sleep

    def peer_problems(self, target: DrainTarget) -> list[str]:
        """Why the peer cannot take the shard's calls, per edge node (empty: it can)."""
        problems = []
        for name, client in self.edges.items():
            try:
                sets = client.dispatcher_sets()
            except EdgeManagementError as exc:
                problems.append(f"{name}: cannot read its dispatcher: {exc.message}")
                continue
            dests = [d for s in sets if s.id == target.set_id for d in s.destinations]
            peer = next((d for d in dests if d.uri == target.peer_uri), None)
            if peer is None:
                problems.append(f"{name}: {target.peer} is not in set {target.set_id}")
            elif not peer.selectable:
                problems.append(f"{name}: {target.peer} is {peer.raw_state}")
        return problems

    def drain(
        self, host: str, deadline_s: float = 300.0, poll_s: float = 1.0, force: bool = False
    ) -> DrainReport:
        """Take ``host`` out; wait up to ``deadline_s`` for its calls to end.

        Raises ClusterctlError when the peer is not available and ``force`` is false.
        """
        target = target_of(self.cluster, host)
        report = DrainReport(host, "drain", forced=force)
        problems = self.peer_problems(target)
        if problems and not force:
            raise ClusterctlError(
                f"refusing to drain {host}: it is the last available server of shard "
                f"{target.shard} ({'; '.join(problems)}); --force drains it anyway"
            )
        report.notes += [f"peer: {p}" for p in problems]
        self._set_state(target, DestinationState.INACTIVE, report)
        self._step(report, "pause inbound", self.server.pause_inbound)
        started = self.clock()
        report.calls_at_start = report.calls_left = self.server.calls_count()
        while report.calls_left > 0 and self.clock() - started < deadline_s:
            self.sleep(min(poll_s, max(0.0, deadline_s - (self.clock() - started))))
            report.calls_left = self.server.calls_count()
        report.waited_s = self.clock() - started
        report.drained = report.calls_left == 0
        return report

    def undrain(self, host: str) -> DrainReport:
        """Bring ``host`` back: accept calls, then active on every edge node."""
        target = target_of(self.cluster, host)
        report = DrainReport(host, "undrain")
        self._step(report, "resume inbound", self.server.resume_inbound)
        self._set_state(target, DestinationState.ACTIVE, report)
        return report

    def _set_state(self, target: DrainTarget, state: DestinationState, report: DrainReport) -> None:
        for name, client in self.edges.items():
            try:
                client.set_destination_state(target.set_id, target.uri, state)
            except EdgeManagementError as exc:
                done = ", ".join(report.edges) or "no edge"
                raise ClusterctlError(
                    f"{report.action} {target.host}: setting it {state.value} on {name} failed "
                    f"({exc.message}); done so far: {done}"
                ) from None
            report.edges.append(name)

    def _step(self, report: DrainReport, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except ClusterctlError as exc:
            raise ClusterctlError(
                f"{report.action} {report.host}: {what} failed ({exc.message}); "
                f"edges already changed: {', '.join(report.edges) or 'none'}"
            ) from None
        report.notes.append(what)


def for_host(cluster: Cluster, host: str, password: str, port: int = DEFAULT_PORT) -> Drainer:
    """A Drainer over every edge node's management interface and ``host``'s event socket.

    Nothing is contacted yet. BadInput when ``host`` is not a feature server of a shard.
    """
    target_of(cluster, host)
    edges = {
        name: edge_client(cluster, str(cluster.hosts[name].address))
        for name in cluster.members("sip_edge")
    }
    return Drainer(cluster, edges, FreeSwitchClient(str(cluster.hosts[host].address), password,
                                                    port))


def describe(report: DrainReport) -> list[str]:
    """What the operator reads after ``clusterctl drain`` or ``undrain``: one line per fact."""
    state = "inactive" if report.action == "drain" else "active"
    lines = [f"{report.host}: {state} on {', '.join(report.edges) or 'no edge node'}"]
    lines += [f"{report.host}: {note}" for note in report.notes]
    if report.action == "drain":
        lines.append(
            f"{report.host}: {report.calls_at_start} call(s) at the start, "
            f"{report.calls_left} left after {report.waited_s:.1f} s"
        )
        lines.append(
            f"{report.host}: drained" if report.drained else
            f"{report.host}: NOT drained: calls still up at the deadline (they go on; no new "
            f"call reaches it; `clusterctl undrain {report.host}` brings it back)"
        )
    return lines
