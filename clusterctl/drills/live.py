"""The live layers of a drill, each behind a small interface the unit tests replace.

* :class:`FaultBackend`: what the drills need from ``clusterctl/faults.py`` (inject/restore a
  fault and say when it took effect, refuse what the backend cannot do, run a read-only
  command on a host).
* :class:`Traffic`: background calls from the probe host (:class:`SippTraffic`).
* :class:`Probes`: polls the active edge node's dispatcher, the VIP owner and the traffic.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from clusterctl.drills.observe import (
    DEFAULT_POLL_INTERVAL_S,
    CallRecord,
    DestSample,
    DispatcherPoller,
    Observations,
    VipWatcher,
    parse_sipp_messages,
)
from clusterctl.edge.base import DispatcherSet, EdgeManagementError
from clusterctl.errors import ClusterctlError
from clusterctl.model import Cluster
from clusterctl.nodes import holds_address, host_of_uri

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

    @property
    def registered(self) -> tuple[str, ...]:
        """The AORs ``start`` registered through the VIP (``user@domain``; may be none)."""


# The edge database (roles/mariadb ``mariadb_edge_database``): subscriber and location tables.
EDGE_DATABASE = "clusterctl_edge"
# Local SIP ports on the probe host, one per SIPp process the drill may run at the same time.
TRAFFIC_PORT = 5090
OPTIONS_PORT = 5091
REGISTER_PORT = 5092
# SIPp ends on the first SIGINT only after its calls in progress (held calls of the vip
# drill last drill_probe_hold_ms); a second SIGINT ends it at once.
SIPP_STOP_WAIT_S = 15


@dataclass(frozen=True)
class SippCommand:
    """SIPp on the probe host: the drill's test users calling through the VIP.

    ``scenario`` is a file the drill_probe role installs; ``users`` the CSV of test users the
    drill writes on the probe (:class:`TestUsers`). ``local`` is the probe's own address
    (Via and Contact must carry it, not whatever the host name resolves to).
    """

    vip: str
    scenario: str
    users: str
    local: str = ""
    rate: float = 5.0
    max_seconds: float = 120.0
    trace: str = "/tmp/clusterctl-drill-messages.log"  # on the probe host
    port: int = TRAFFIC_PORT
    auth: tuple[str, str] | None = field(default=None, repr=False)

    def argv(self) -> list[str]:
        """The SIPp command line; ``-m`` bounds the calls, ``-timeout`` the run's length."""
        local = ["-i", self.local] if self.local else []
        auth = ["-au", self.auth[0], "-ap", self.auth[1]] if self.auth else []
        return [
            "sipp",
            f"{self.vip}:5060",
            "-sf",
            self.scenario,
            "-inf",
            self.users,
            *local,
            *auth,
            "-p",
            str(self.port),
            "-r",
            f"{self.rate:g}",
            "-m",
            str(int(self.rate * self.max_seconds)),
            "-timeout",
            f"{int(self.max_seconds) + SIPP_STOP_WAIT_S + 30}s",
            "-trace_msg",
            "-message_file",
            self.trace,
            # A frozen feature server must not make SIPp give up on its own watchdog.
            "-watchdog_major_maxtriggers",
            "1000",
            "-bg",
        ]


def _on_probe(argv: list[str], log: str, keep_rc: bool = True) -> list[str]:
    """``argv`` under ``sh`` with TZ=UTC (SIPp 3.7.3 stamps its trace in local time) and its
    output in ``log``: a ``-bg`` SIPp keeps no SSH channel open once its parent exits.
    ``keep_rc`` False: the parent of a ``-bg`` SIPp exits 99, its PID line is what counts."""
    end = "exit $rc" if keep_rc else "true"
    return [
        "sh",
        "-c",
        f"TZ=UTC {shlex.join(argv)} >{log} 2>&1 </dev/null; rc=$?; cat {log}; {end}",
    ]


class TestUsers:
    """The drill's own subscribers, the way the edge contract suite makes them.

    One user per tenant, all with the same name and one random password per drill: SIPp
    3.7.3 does not expand CSV fields inside ``[authentication]``, so the credentials go in
    ``-au``/``-ap`` and the CSV only varies the domain. Created with SQL on a database node
    (``mysql`` as root over SSH, like tests/contract/harness.py), written as SIPp's ``-inf``
    CSV on the probe host, registered through the VIP, and removed again when the drill
    stops. Raises ClusterctlError when no database node takes the SQL or a registration is
    refused.
    """

    name = "clusterctl-drill"

    def __init__(
        self,
        backend: FaultBackend,
        databases: tuple[str, ...],
        domains: list[str],
        csv_path: str = "/tmp/clusterctl-drill-users.csv",
    ) -> None:
        self.backend = backend
        self.databases = databases
        self.domains = list(domains)
        self.csv_path = csv_path
        self.password = secrets.token_hex(12)

    @property
    def auth(self) -> tuple[str, str]:
        """SIPp's ``-au``/``-ap``."""
        return self.name, self.password

    @property
    def aors(self) -> tuple[str, ...]:
        """The users' addresses of record (``user@domain``), one per tenant."""
        return tuple(f"{self.name}@{d}" for d in self.domains)

    def sql(self, statement: str) -> str:
        """Run ``statement`` on the first database node that answers; its output."""
        errors = []
        for db in self.databases:
            try:
                return self.backend.run(db, ["mysql", "-N", "-B", EDGE_DATABASE, "-e", statement])
            except (OSError, RuntimeError) as exc:
                errors.append(f"{db}: {exc}")
        raise ClusterctlError(
            "drill test users: no database node took the SQL: "
            + "; ".join(errors or ["no database hosts"])
        )

    def _where(self) -> str:
        domains = ",".join(f"'{d}'" for d in self.domains)
        return f"username='{self.name}' AND domain IN ({domains})"

    def create(self, probe: str) -> None:
        """Subscribers in the database, their CSV on ``probe``."""
        values = ",".join(f"('{self.name}','{d}','{self.password}')" for d in self.domains)
        self.sql(
            f"INSERT INTO subscriber (username, domain, password) VALUES {values} "
            "ON DUPLICATE KEY UPDATE password = VALUES(password);"
        )
        # SIPp -inf: the first line says how lines are used, then user;domain.
        text = "SEQUENTIAL\n" + "".join(f"{self.name};{d}\n" for d in self.domains)
        self.backend.run(
            probe, ["sh", "-c", f"umask 077; printf %s {shlex.quote(text)} >{self.csv_path}"]
        )

    def register(self, probe: str, vip: str, local: str, scenario: str) -> None:
        """REGISTER every test user through the VIP (SIPp exits non-zero if one fails)."""
        argv = [
            "sipp",
            f"{vip}:5060",
            "-sf",
            scenario,
            "-inf",
            self.csv_path,
            "-i",
            local,
            "-au",
            self.name,
            "-ap",
            self.password,
            "-p",
            str(REGISTER_PORT),
            "-m",
            str(len(self.domains)),
            "-r",
            "20",
            "-nostdin",
            "-timeout",
            "15s",
            "-timeout_error",
        ]
        try:
            self.backend.run(probe, _on_probe(argv, "/tmp/clusterctl-drill-register.out"))
        except (OSError, RuntimeError) as exc:
            raise ClusterctlError(
                f"drill test users could not register through {vip}: {exc}"
            ) from None

    def drop(self, probe: str) -> None:
        """Remove the users and their CSV. Their contacts (one per domain, the probe's REGISTER
        port, refreshed by the next drill) expire on the edges after drill_probe_register_expires:
        deleting database rows would not reach the edges' memory."""
        self.sql(f"DELETE FROM subscriber WHERE {self._where()};")
        self.backend.run(probe, ["rm", "-f", self.csv_path])


_SIPP_PID = re.compile(r"PID=\[(\d+)\]")


class BackgroundSipp:
    """One ``-bg`` SIPp of :class:`SippCommand` on the probe host: ``start`` returns once SIPp
    reported its PID (ClusterctlError when it did not), ``stop`` ends only that process and
    returns its ``-trace_msg`` log."""

    def __init__(self, backend: FaultBackend, host: str, command: SippCommand, log: str) -> None:
        self.backend = backend
        self.host = host
        self.command = command
        self.log = log
        self.pid: int | None = None

    def start(self) -> None:
        self.backend.run(self.host, ["rm", "-f", self.command.trace])
        out = self.backend.run(self.host, _on_probe(self.command.argv(), self.log, keep_rc=False))
        found = _SIPP_PID.search(out)
        if found is None:
            raise ClusterctlError(f"SIPp on {self.host} did not report its PID in -bg mode")
        self.pid = int(found.group(1))

    def stop(self) -> str:
        # SIPp ignores SIGTERM; SIGINT ends it (after its calls) and flushes the trace.
        if self.pid is not None:
            self.backend.run(self.host, ["sh", "-c", _stop_script(self.pid)])
            self.pid = None
        return self.backend.run(self.host, ["cat", self.command.trace])


class SippTraffic:
    """Runs :class:`SippCommand` on the probe host through the fault backend's ``run``.

    ``start`` creates and registers the test users, then starts SIPp in the background
    (``-bg`` prints ``Background mode - PID=[n]``); ``stop`` ends only that process, reads the
    trace and removes the users. ``options_scenario`` is a one-shot OPTIONS scenario on the
    probe host (SIPp has no built-in one); SIPp exits non-zero when it got no 200.
    """

    def __init__(
        self,
        backend: FaultBackend,
        host: str,
        command: SippCommand,
        tenant_of: dict[str, str],
        options_scenario: str,
        *,
        users: TestUsers | None = None,
        register_scenario: str = "",
    ) -> None:
        self.backend = backend
        self.host = host
        self.command = command
        self.tenant_of = tenant_of
        self.options_scenario = options_scenario
        self.users = users
        self.register_scenario = register_scenario
        self.sipp = BackgroundSipp(backend, host, command, "/tmp/clusterctl-drill-sipp.out")

    @property
    def registered(self) -> tuple[str, ...]:
        return self.users.aors if self.users is not None and self.register_scenario else ()

    def start(self) -> None:
        if self.users is not None:
            self.users.create(self.host)
            if self.register_scenario:
                self.users.register(
                    self.host, self.command.vip, self.command.local, self.register_scenario
                )
        self.sipp.start()

    def stop(self) -> list[CallRecord]:
        try:
            text = self.sipp.stop()
        finally:
            if self.users is not None:
                self.users.drop(self.host)
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
            *(["-i", self.command.local] if self.command.local else []),
            "-p",
            str(OPTIONS_PORT),
            "-nostdin",
            "-timeout",
            "1s",
            "-timeout_error",
        ]
        try:
            self.backend.run(self.host, argv)
        except (OSError, RuntimeError):
            return False
        return True


class RegisterStream:
    """The drill's test users re-registering through the VIP (the drill_probe REGISTER
    scenario, ``command.rate`` a second, bounded like the calls): one record per REGISTER
    Call-ID (the challenged REGISTER and the authenticated one). Uses the users
    :class:`SippTraffic` created: start it after the traffic, stop it before."""

    def __init__(self, backend: FaultBackend, host: str, command: SippCommand) -> None:
        self.sipp = BackgroundSipp(backend, host, command, "/tmp/clusterctl-drill-registers.out")

    def start(self) -> None:
        self.sipp.start()

    def stop(self) -> list[CallRecord]:
        return parse_sipp_messages(self.sipp.stop(), method="REGISTER")


def _stop_script(pid: int) -> str:
    """SIGINT, wait for the calls in progress (bounded), then a second SIGINT and SIGKILL."""
    steps = SIPP_STOP_WAIT_S * 5
    return (
        f"kill -INT {pid} 2>/dev/null || exit 0; "
        f"for i in $(seq {steps}); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.2; done; "
        f"kill -INT {pid} 2>/dev/null; sleep 1; kill -9 {pid} 2>/dev/null; true"
    )


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
        checker: Traffic | None = None,
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.fetch_sets = fetch_sets
        self.traffic = traffic
        # Asks "does it answer OPTIONS?" from the probe host, also in a drill without calls.
        self.checker = checker or traffic
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

    @property
    def registered(self) -> tuple[str, ...]:
        """The AORs the traffic registered through the VIP when it started (none without
        traffic)."""
        return self.traffic.registered if self.traffic else ()

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
            # Calls SIPp is starting as it is told to stop get no outcome: they are told
            # apart by this mark (Observations.settled_calls).
            obs.mark("traffic_stop", self.clock())
            obs.calls.extend(sorted(self.traffic.stop(), key=lambda c: c.start))

    def answers_now(self, target: str) -> bool | None:
        """Whether host ``target`` answers OPTIONS from the probe now (None: no probe host)."""
        if self.checker is None:
            return None
        return self.checker.answers(str(self.cluster.hosts[target].address))

    def wait_answers(self, target: str, timeout: float) -> float | None:
        """When host ``target`` answered OPTIONS again (None without a probe host or by
        ``timeout``)."""
        traffic = self.checker
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
