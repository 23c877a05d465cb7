"""The live layers of a drill, each behind a small interface the unit tests replace.

* :class:`FaultBackend`: what the drills need from ``clusterctl/faults.py`` (inject/restore a
  fault and say when it took effect, refuse what the backend cannot do, run a read-only
  command on a host).
* :class:`Traffic`: background calls from the probe host (:class:`SippTraffic`).
* :class:`Probes`: polls the active edge node's dispatcher, the VIP owner and the traffic.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from clusterctl.drills.observe import (
    DEFAULT_POLL_INTERVAL_S,
    CallRecord,
    DestSample,
    DispatcherPoller,
    Observations,
    VipWatcher,
    holds_address,
    host_of_uri,
    parse_sipp_messages,
)
from clusterctl.edge.base import DispatcherSet, EdgeManagementError
from clusterctl.errors import ClusterctlError
from clusterctl.model import Cluster

# Bounded loops: every wait in a drill gives up after its timeout.
WAIT_STEP_S = 0.05


def wait_until(
    done: Callable[[], bool], timeout: float, clock: Callable[[], float] = time.time
) -> bool:
    """Poll ``done`` until it is true or ``timeout`` s passed; returns whether it became true."""
    deadline = clock() + timeout
    while clock() < deadline:
        if done():
            return True
        time.sleep(WAIT_STEP_S)
    return done()


class FaultBackend(Protocol):
    """The fault primitives (clusterctl/faults.py) as the drills use them."""

    def refusal(self, host: str, kind: str) -> str | None:
        """Why ``kind`` cannot be done to ``host`` (None: it can)."""

    def inject(self, host: str, kind: str) -> float:
        """Inject; returns the time the fault took effect. Raises ClusterctlError."""

    def restore(self, host: str, kind: str) -> float:
        """Undo; returns the time the host was back. Raises ClusterctlError."""

    def describe(self, host: str, kind: str) -> str:
        """What ``inject`` would run on ``host`` (for --dry-run)."""

    def describe_restore(self, host: str, kind: str) -> str:
        """What ``restore`` would run on ``host`` (for --dry-run)."""

    def run(self, host: str, argv: list[str]) -> str:
        """Run a read-only command on ``host``; its stdout. Raises OSError/RuntimeError."""


class Traffic(Protocol):
    """Background test calls from the probe host."""

    host: str

    def start(self) -> None:
        """Start sending calls (bounded in count and time)."""

    def stop(self) -> list[CallRecord]:
        """Stop and return every call's outcome."""

    def answers(self, target: str) -> bool:
        """Whether ``target`` answers a SIP OPTIONS from the probe host now."""


@dataclass(frozen=True)
class SippCommand:
    """SIPp on the probe host: registered test users calling through the VIP.

    ``scenario`` and ``users`` are files the probe host role installs (the edge contract
    suite's UAC scenario and its CSV of test users, one per tenant).
    """

    vip: str
    scenario: str
    users: str
    rate: float = 5.0
    max_seconds: float = 120.0
    trace: str = "/tmp/clusterctl-drill-messages.log"  # on the probe host

    def argv(self) -> list[str]:
        """The SIPp command line; ``-m`` bounds the calls to ``rate * max_seconds``."""
        return [
            "sipp",
            f"{self.vip}:5060",
            "-sf",
            self.scenario,
            "-inf",
            self.users,
            "-r",
            f"{self.rate:g}",
            "-m",
            str(int(self.rate * self.max_seconds)),
            "-trace_msg",
            "-message_file",
            self.trace,
            # A frozen feature server must not make SIPp give up on its own watchdog.
            "-watchdog_major_maxtriggers",
            "1000",
            "-bg",
        ]


_SIPP_PID = re.compile(r"PID=\[(\d+)\]")


class SippTraffic:
    """Runs :class:`SippCommand` on the probe host through the fault backend's ``run``.

    SIPp's ``-bg`` prints ``Background mode - PID=[n]``; only that process is stopped.
    ``options_scenario`` is a one-shot OPTIONS scenario on the probe host (SIPp has no
    built-in one); SIPp exits non-zero when it got no 200, which ``run`` raises.
    """

    def __init__(
        self,
        backend: FaultBackend,
        host: str,
        command: SippCommand,
        tenant_of: dict[str, str],
        options_scenario: str,
    ) -> None:
        self.backend = backend
        self.host = host
        self.command = command
        self.tenant_of = tenant_of
        self.options_scenario = options_scenario
        self.pid: int | None = None

    def start(self) -> None:
        self.backend.run(self.host, ["rm", "-f", self.command.trace])
        found = _SIPP_PID.search(self.backend.run(self.host, self.command.argv()))
        if found is None:
            raise ClusterctlError(f"SIPp on {self.host} did not report its PID in -bg mode")
        self.pid = int(found.group(1))

    def stop(self) -> list[CallRecord]:
        # SIPp ignores SIGTERM; SIGINT ends it and flushes the trace.
        if self.pid is not None:
            self.backend.run(self.host, ["kill", "-INT", str(self.pid)])
            self.pid = None
        text = self.backend.run(self.host, ["cat", self.command.trace])
        return [
            CallRecord(**{**vars(c), "tenant": self.tenant_of.get(c.tenant or "", c.tenant)})
            for c in parse_sipp_messages(text)
        ]

    def answers(self, target: str) -> bool:
        argv = [
            "sipp",
            f"{target}:5060",
            "-sf",
            self.options_scenario,
            "-m",
            "1",
            "-timeout",
            "1s",
            "-timeout_error",
        ]
        try:
            self.backend.run(self.host, argv)
        except (OSError, RuntimeError):
            return False
        return True


class Probes:
    """Everything a drill observes, started and stopped together."""

    def __init__(
        self,
        cluster: Cluster,
        faults: FaultBackend,
        fetch_sets: Callable[[], list[DispatcherSet]],
        traffic: Traffic | None = None,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.fetch_sets = fetch_sets
        self.traffic = traffic
        self.poll_interval = poll_interval
        self.clock = clock
        addresses = {str(h.address): h.name for h in cluster.hosts.values() if h.address}
        self.host_of = host_of_uri(addresses)
        self.last_sets: list[DestSample] = []
        self._pollers: list[DispatcherPoller | VipWatcher] = []

    @property
    def traffic_host(self) -> str | None:
        """The probe host sending calls, None when the drill runs without traffic."""
        return self.traffic.host if self.traffic else None

    def describe_fault(self, host: str, kind: str) -> str:
        """What injecting ``kind`` runs on ``host``."""
        return self.faults.describe(host, kind)

    def describe_restore(self, host: str, kind: str) -> str:
        """What restoring ``kind`` runs on ``host``."""
        return self.faults.describe_restore(host, kind)

    def edge_problems(self) -> list[str]:
        """Read the dispatcher once into ``last_sets``; problems if it cannot be read."""
        try:
            sets = self.fetch_sets()
        except EdgeManagementError as exc:
            return [f"edge management interface: {exc.message}"]
        now = self.clock()
        self.last_sets = [
            DestSample(
                now, s.id, d.uri, self.host_of(d.uri), d.state.value, d.raw_state, d.selectable
            )
            for s in sets
            for d in s.destinations
        ]
        return []

    def vip_owners(self, hosts: tuple[str, ...], vip: str) -> tuple[str, ...]:
        """Edge nodes holding ``vip`` now (a node that cannot be asked does not hold it)."""
        owners = []
        for host in hosts:
            try:
                if holds_address(self.ask_addresses(host), vip):
                    owners.append(host)
            except (OSError, RuntimeError):
                continue
        return tuple(owners)

    def ask_addresses(self, host: str) -> str:
        """``ip -o -4 addr show`` on ``host``."""
        return self.faults.run(host, ["ip", "-o", "-4", "addr", "show"])

    def start(
        self,
        obs: Observations,
        vip: tuple[tuple[str, ...], str] | None = None,
        dispatcher: bool = True,
    ) -> None:
        """Start dispatcher polling and/or VIP watching (``vip`` = (hosts, address))."""
        self._pollers = []
        if dispatcher:
            self._pollers.append(
                DispatcherPoller(
                    self.fetch_sets,
                    obs,
                    self.host_of,
                    interval=self.poll_interval,
                    clock=self.clock,
                )
            )
        if vip is not None:
            self._pollers.append(
                VipWatcher(
                    self.ask_addresses,
                    vip[0],
                    vip[1],
                    obs,
                    interval=self.poll_interval,
                    clock=self.clock,
                )
            )
        for poller in self._pollers:
            poller.start()
        if self.traffic:
            self.traffic.start()

    def stop(self, obs: Observations) -> None:
        """Stop polling and traffic; the calls go into ``obs``."""
        for poller in self._pollers:
            poller.stop()
        if self.traffic:
            obs.calls.extend(sorted(self.traffic.stop(), key=lambda c: c.start))

    def wait_answers(self, target: str, timeout: float) -> float | None:
        """When host ``target`` answered OPTIONS again (None without traffic or by ``timeout``)."""
        traffic = self.traffic
        if traffic is None:
            return None
        address = str(self.cluster.hosts[target].address)
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            # The reply came between the probe's start and its return: taking the start
            # makes the re-inclusion measured from it an upper bound, never flattering.
            asked = self.clock()
            if traffic.answers(address):
                return asked
            time.sleep(WAIT_STEP_S)
        return None


def faults_for(cluster: Cluster) -> FaultBackend:
    """The fault backend for ``cluster`` from clusterctl/faults.py.

    Raises ClusterctlError when that module is not installed yet.
    """
    try:
        faults = importlib.import_module("clusterctl.faults")
    except ImportError:
        raise ClusterctlError("the fault backend (clusterctl/faults.py) is not available") from None
    backend: FaultBackend = faults.drill_backend(cluster)
    return backend
