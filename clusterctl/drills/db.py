"""``drill db``: one database node fails under REGISTER, call and write traffic; the edge must
keep serving, FreeSWITCH keep getting its configuration, writes resume on a survivor and no
acknowledged write may be lost.

Measured, all at once:
* REGISTERs of the drill's test users through the VIP (SIPp on the probe host, the drill_probe
  REGISTER scenario with digest auth): the edge reads the subscriber and writes the contact;
* calls through the VIP to the echo test: digest auth at the edge, the dialplan from the
  configuration service, which reads the database;
* directory lookups from every FreeSWITCH feature server through its local HAProxy (the loop of
  ``drill web``): the configuration service reading the database;
* numbered rows written into the audit table by a thread of this process as the monitor user,
  through the node that took the last write, moving on after an error the way the
  configuration service's pool does; after the restore every acknowledged row must be on every
  node once replication has caught up.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymysql

from clusterctl.db import AUDIT_TABLE, MONITOR_USER
from clusterctl.db.connect import Connect, Endpoint, NoDatabase, connect_first, reason
from clusterctl.db.health import check_node
from clusterctl.drills.analysis import percentile
from clusterctl.drills.live import Probes, RegisterStream
from clusterctl.drills.observe import CallRecord, Observations, WriteSample
from clusterctl.drills.run import Check, Drill, mark_fault
from clusterctl.drills.thresholds import TIMER_MARGIN_S, Limit
from clusterctl.drills.web import LookupWatch
from clusterctl.engines import EDGE_DB_RETRY_S, EDGE_DB_TIMEOUT_S, EDGE_LOCATION_FLUSH_S

WRITE_INTERVAL_S = 0.05
# Connect and query timeout of each write: a frozen node costs the writer this long, twice
# (the write in flight, then one more connection attempt to the node that last worked).
WRITE_TIMEOUT_S = 1.0
# The writer ends by itself after this long, whatever the drill does.
WRITE_LOOP_MAX_S = 180.0
# How long after the restore the target may take to be healthy again (replication or Galera
# membership back): a killed MariaDB restarts and recovers InnoDB first.
DB_BACK_TIMEOUT_S = 90.0
# How long replication may take to bring every acknowledged row to every node after that.
CONVERGE_TIMEOUT_S = 30.0
# Galera's evs.suspect_timeout (roles/mariadb mariadb_galera_provider_options): a node that
# vanished without leaving holds every commit of the cluster until it is suspected, which is
# checked every evs.inactive_check_period (Galera's default, 1 s). Measured in the lab: kill
# -9 of db1 stalled the writer on db2 4.5 s.
GALERA_SUSPECT_S = 3.0
GALERA_CHECK_PERIOD_S = 1.0
# The drill's REGISTERs per second (each a challenge and an authenticated REGISTER).
REGISTER_RATE = 5.0


@dataclass(frozen=True)
class DbLimits:
    """What `drill db` holds the cluster to, per fault kind and topology."""

    register_s: Limit
    failed_registers: Limit
    failed_calls: Limit
    failed_lookups: Limit
    write_stall_s: Limit
    lost_writes: Limit
    back_s: Limit


def _edge_stall_s(silent: bool) -> float:
    """How long a silent database node holds an edge query: the query's timeout, then one
    reconnection attempt at the driver's connect timeout (a third of it; max_db_retries 1, see
    the sip_edge templates) before the engine moves to the next node. A refusing node costs
    nothing."""
    return EDGE_DB_TIMEOUT_S + EDGE_DB_TIMEOUT_S / 3 if silent else 0.0


def fault_hold_s(fault: str) -> float:
    """How long the drill keeps the fault: a silent node long enough that the edge's next
    write-back of the contacts meets it and its stall ends within the fault."""
    silent = fault in ("freeze", "netcut")
    return (EDGE_LOCATION_FLUSH_S if silent else 0.0) + _edge_stall_s(silent) + 3.0


def db_limits(fault: str, topology: str, max_failed_calls: Limit) -> DbLimits:
    """A stopped or killed node refuses at once, so clients move on without waiting; a frozen
    or cut-off one is silent and costs each client its timeout: the edge a query timeout and
    its reconnection attempts (every REGISTER waits while the contacts' write-back hangs), the
    writer its write in flight and one more connection attempt. Galera also holds every
    commit while its membership changes: measured after a stop too (the leaving node's
    shutdown took 1-3.6 s and the survivors stalled about 4 s after it began), twice for a
    killed node, which systemd restarts within the fault."""
    silent = fault in ("freeze", "netcut")
    # Galera: every client's commits wait while the membership changes; a killed node comes
    # back by itself (systemd) within the fault and rejoins, a second change.
    changes = (2 if fault == "kill" else 1) if topology == "galera" else 0
    galera_wait = changes * (GALERA_SUSPECT_S + GALERA_CHECK_PERIOD_S)
    # The edge's writes wait out the membership changes too.
    edge = _edge_stall_s(silent) + galera_wait
    stall = (2 * WRITE_TIMEOUT_S if silent else 0.0) + galera_wait
    parts = [f"2 x write timeout {WRITE_TIMEOUT_S:g} s" if silent else "refused at once"]
    if changes:
        parts.append(f"{changes} x Galera membership change (suspect timeout "
                     f"{GALERA_SUSPECT_S:g} s + its check period {GALERA_CHECK_PERIOD_S:g} s)")
    margin = 2 * TIMER_MARGIN_S
    edge_bound = (f"query timeout {EDGE_DB_TIMEOUT_S} s + one reconnection "
                  f"{EDGE_DB_TIMEOUT_S / 3:g} s" if silent else "the node refuses at once")
    if changes:
        edge_bound += f" + Galera {galera_wait:g} s"
    return DbLimits(
        register_s=Limit(round(edge + margin, 3), f"{edge_bound} (+ {margin:g} s)", "computed"),
        failed_registers=Limit(0, "0 (the edge fails over to the next database node)",
                               "computed"),
        failed_calls=max_failed_calls,
        failed_lookups=Limit(0, "0 (the service's pool fails over to the next node)",
                             "computed"),
        write_stall_s=Limit(round(stall + margin, 3),
                            " + ".join(parts) + f" = {stall:g} s (+ {margin:g} s)", "computed"),
        lost_writes=Limit(0, "0 (an acknowledged commit is durable on its node)", "computed"),
        back_s=Limit(DB_BACK_TIMEOUT_S, "InnoDB recovery and replication catch-up", "computed"),
    )


_INSERT = f"INSERT INTO {AUDIT_TABLE} (run_id, seq, written_via) VALUES (%s, %s, %s)"


class AuditWriter:
    """Numbered rows into the audit table every WRITE_INTERVAL_S from a thread, one autocommit
    INSERT each, as the monitor user. ``nodes`` maps host names to addresses in inventory
    order. A connection goes first to the node that took the last write, then to the others
    in order, a node that failed a query within EDGE_DB_RETRY_S last (as the edge does); an
    error closes it and the next write connects again. A write that times out after it was
    sent has an unknown outcome and is not counted as acknowledged.
    """

    def __init__(
        self,
        nodes: dict[str, str],
        password: str,
        *,
        connect: Connect = pymysql.connect,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.nodes = dict(nodes)
        self.password = password
        self.connect = connect
        self.clock = clock
        self.run_id = str(uuid.uuid4())
        self.samples: list[WriteSample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = next(iter(self.nodes), "")
        self._conn: Any = None
        self._node = ""
        self._failed: dict[str, float] = {}  # node -> when it last failed a query

    def _endpoints(self) -> list[Endpoint]:
        now = self.clock()
        order = sorted([self._last, *(n for n in self.nodes if n != self._last)],
                       key=lambda n: n in self._failed and now - self._failed[n] < EDGE_DB_RETRY_S)
        return [Endpoint(self.nodes[n]) for n in order if n in self.nodes]

    def _host_of(self, endpoint: Endpoint) -> str:
        return next(n for n, a in self.nodes.items() if a == endpoint.host)

    def write_once(self, seq: int) -> WriteSample:
        """One write, connecting first when there is no open connection."""
        t = self.clock()
        try:
            if self._conn is None:
                conn, endpoint = connect_first(
                    self._endpoints(),
                    MONITOR_USER,
                    self.password,
                    timeout_s=WRITE_TIMEOUT_S,
                    connect=self.connect,
                )
                self._conn, self._node = conn, self._host_of(endpoint)
            with self._conn.cursor() as cur:
                cur.execute(_INSERT, (self.run_id, seq, self._node))
        except (pymysql.MySQLError, NoDatabase) as exc:
            node = self._node if self._conn is not None else None
            if node is not None:
                # The node failed under a write: the next connections try the others first
                # (a node shutting down still accepts connections, then refuses queries).
                self._failed[node] = self.clock()
            self._close()
            text = exc.message if isinstance(exc, NoDatabase) else reason(exc)
            return WriteSample(t, seq, False, node, _ms(self.clock() - t), text)
        self._last = self._node
        return WriteSample(t, seq, True, self._node, _ms(self.clock() - t))

    def _close(self) -> None:
        if self._conn is not None:
            _close(self._conn)
        self._conn, self._node = None, ""

    def _loop(self) -> None:
        end = self.clock() + WRITE_LOOP_MAX_S
        seq = 0
        while not self._stop.is_set() and self.clock() < end:
            seq += 1
            sample = self.write_once(seq)
            self.samples.append(sample)
            self._stop.wait(max(0.0, WRITE_INTERVAL_S - (self.clock() - sample.t)))
        self._close()

    def start(self) -> None:
        """A new run: its own run_id and samples, starting again on the first node."""
        self.run_id = str(uuid.uuid4())
        self.samples = []
        self._stop = threading.Event()
        self._last = next(iter(self.nodes), "")
        self._failed = {}
        self._thread = threading.Thread(target=self._loop, name="drill-db-writer", daemon=True)
        self._thread.start()

    def stop(self) -> list[WriteSample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3 * WRITE_TIMEOUT_S + 1)
        return list(self.samples)

    def rows_on(self, host: str) -> set[int] | None:
        """This run's rows on ``host`` (None: it cannot be read now)."""
        try:
            conn = self.connect(
                host=self.nodes[host],
                user=MONITOR_USER,
                password=self.password,
                connect_timeout=WRITE_TIMEOUT_S,
                read_timeout=5,
                autocommit=True,
            )
        except pymysql.MySQLError:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT seq FROM {AUDIT_TABLE} WHERE run_id = %s", (self.run_id,))
                return {int(row[0]) for row in cur.fetchall()}
        except pymysql.MySQLError:
            return None
        finally:
            _close(conn)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _close(conn: Any) -> None:
    with contextlib.suppress(pymysql.MySQLError, OSError):
        conn.close()


def missing_writes(
    writer: AuditWriter, acked: set[int], timeout: float, clock: Callable[[], float] = time.time
) -> dict[str, int | None]:
    """Per node, how many acknowledged rows it still lacks once replication had ``timeout``
    seconds to bring them (None: the node could not be read)."""
    deadline = clock() + timeout
    missing: dict[str, int | None] = {}
    while True:
        for host in writer.nodes:
            rows = writer.rows_on(host)
            missing[host] = None if rows is None else len(acked - rows)
        if all(v == 0 for v in missing.values()) or clock() >= deadline:
            return missing
        time.sleep(0.5)


def _longest_gap(acks: list[float], start: float, end: float) -> float | None:
    """The longest time without an acknowledged write between ``start`` and ``end`` (from
    ``start`` to the first ack after it, between acks, up to the first ack after ``end``)."""
    points = [t for t in acks if start < t <= end]
    after = next((t for t in acks if t > end), None)
    if after is not None:
        points.append(after)
    if not points:
        return None
    edges = [start, *points]
    return round(max(b - a for a, b in itertools.pairwise(edges)), 3)


def _during(records: list[CallRecord], fault: float, restore: float | None) -> list[CallRecord]:
    return [r for r in records if r.start >= fault and (restore is None or r.start < restore)]


def analyze(obs: Observations, target: str, limits: DbLimits) -> tuple[list[Check], dict[str, Any]]:
    """Checks and facts of one run (pure: replayable on recorded streams)."""
    # The fault acts from the moment it was issued (a stop shuts the node down before the
    # command returns), so the windows start there.
    fault = obs.marks.get("fault_issued", obs.marks["fault"])
    restore = obs.marks.get("restore")
    registers = obs.settled_registers()
    failed_regs = [r for r in registers if not r.ok]
    reg_during = [
        round(r.end - r.start, 3) for r in _during(registers, fault, restore) if r.end is not None
    ]
    calls = obs.settled_calls()
    failed_lookups = [s for s in obs.lookups if not s.ok]
    lookup_during = [
        s.ms for s in obs.lookups if s.t >= fault and (restore is None or s.t < restore)
    ]
    acks = [w.t + w.ms / 1000 for w in obs.writes if w.ok]
    end = restore if restore is not None else (obs.writes[-1].t if obs.writes else fault)
    stall = _longest_gap(acks, fault, end) if obs.writes else None
    missing = obs.meta.get("missing_writes") or {}
    lost = (
        None
        if not missing or any(v is None for v in missing.values())
        else float(max(missing.values()))
    )
    back = obs.marks.get("db_back")
    unknown = [w for w in obs.writes if not w.ok and w.node is not None]
    checks = [
        Check(
            "longest REGISTER during the fault",
            max(reg_during) if reg_during else None,
            limits.register_s,
            "s",
            note=f"{len(reg_during)} REGISTERs during the fault; p95 "
            + _fmt(percentile(reg_during, 95)),
        ),
        Check(
            "failed REGISTERs",
            float(len(failed_regs)) if registers else None,
            limits.failed_registers,
            "",
            note=f"{len(registers)} REGISTERs; codes "
            + (", ".join(sorted({str(r.status) for r in failed_regs})) or "-"),
        ),
        Check(
            "failed calls",
            float(sum(not c.ok for c in calls)),
            limits.failed_calls,
            "",
            note=f"{len(calls)} calls; codes "
            + (", ".join(sorted({str(c.status) for c in calls if not c.ok})) or "-"),
        ),
        Check(
            "failed configuration lookups",
            float(len(failed_lookups)) if obs.lookups else None,
            limits.failed_lookups,
            "",
            note=f"{len(obs.lookups)} lookups; longest during the fault "
            + (f"{max(lookup_during):.0f} ms" if lookup_during else "-")
            + "; statuses "
            + (", ".join(sorted({str(s.status) for s in failed_lookups})) or "-"),
        ),
        Check(
            "write stall",
            stall,
            limits.write_stall_s,
            "s",
            note=f"{len(acks)} of {len(obs.writes)} writes acknowledged; "
            f"{len(unknown)} with an unknown outcome",
        ),
        Check(
            "acknowledged writes lost",
            lost,
            limits.lost_writes,
            "",
            note=", ".join(
                f"{h} {'unreadable' if v is None else f'{v} missing'}" for h, v in missing.items()
            )
            or "not counted",
        ),
        Check(
            "database node healthy after the restore",
            None if back is None or restore is None else round(back - restore, 3),
            limits.back_s,
            "s",
            note="replication running, or Synced in the primary component",
        ),
    ]
    facts: dict[str, Any] = {
        "target": target,
        "writes": len(obs.writes),
        "writes_acknowledged": len(acks),
        "writes_unknown_outcome": len(unknown),
        "written_via": sorted({w.node for w in obs.writes if w.ok and w.node}),
        "register_s_p95_during_fault": percentile(reg_during, 95),
        "lookup_ms_max_during_fault": max(lookup_during) if lookup_during else None,
        "calls_cut_by_traffic_stop": len(obs.calls) - len(calls),
        "poll_errors": len(obs.errors),
    }
    return checks, facts


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


class DbDrill(Drill):
    """Fail one database node under REGISTERs, calls, lookups and writes."""

    name = "db"

    def __init__(
        self,
        target: str,
        fault: str,
        probes: Probes,
        *,
        registers: RegisterStream,
        lookups: LookupWatch | None,
        writer: AuditWriter,
        limits: DbLimits,
        health: Callable[[str], tuple[bool, str]],
    ) -> None:
        self.target = target
        self.fault = fault
        self.probes = probes
        self.registers = registers
        self.lookups = lookups
        self.writer = writer
        self.limits = limits
        self.health = health  # host -> (healthy, why not)

    def plan(self) -> list[tuple[str, str]]:
        probe = self.probes.traffic_host or "(no probe host)"
        steps = [
            (probe, f"REGISTER the drill's test users through the VIP, {REGISTER_RATE:g} a second"),
            (
                probe,
                "calls through the VIP to the echo test (each asks the service for its dialplan)",
            ),
            (
                "this machine",
                f"write numbered rows into {AUDIT_TABLE} every "
                f"{WRITE_INTERVAL_S * 1000:g} ms as {MONITOR_USER}",
            ),
        ]
        if self.lookups is not None:
            steps.append(
                (
                    ", ".join(self.lookups.hosts),
                    "look up directory entries through the local HAProxy",
                )
            )
        return [
            *steps,
            (self.target, f"{self.fault}: {self.probes.describe_fault(self.target, self.fault)}"),
            (self.target, f"restore: {self.probes.describe_restore(self.target, self.fault)}"),
        ]

    def steady_state(self) -> list[str]:
        problems = []
        for host in self.writer.nodes:
            healthy, why = self.health(host)
            if not healthy:
                problems.append(f"database node {host} is not healthy: {why}")
        return problems + self.probes.edge_problems()

    def start_observing(self, obs: Observations) -> None:
        if self.lookups is not None:
            self.lookups.start()
        self.probes.start(obs, dispatcher=False)
        self.registers.start()
        self.writer.start()
        obs.meta.update(
            drill=self.name, target=self.target, fault=self.fault, run_id=self.writer.run_id
        )

    def stop_observing(self, obs: Observations) -> None:
        try:
            obs.writes.extend(self.writer.stop())
            obs.registers.extend(self.registers.stop())
            self.probes.stop(obs)
        finally:
            if self.lookups is not None:
                obs.lookups.extend(self.lookups.stop())
        acked = {w.seq for w in obs.writes if w.ok}
        obs.meta["missing_writes"] = missing_writes(self.writer, acked, CONVERGE_TIMEOUT_S)

    def inject(self, obs: Observations) -> None:
        mark_fault(obs, self.probes.clock,
                   lambda: self.probes.faults.inject(self.target, self.fault))

    def await_effect(self, obs: Observations) -> None:
        # The streams are read back at the end: keep the fault until every client had to move.
        time.sleep(fault_hold_s(self.fault))

    def restore(self, obs: Observations) -> None:
        obs.mark("restore", self.probes.faults.restore(self.target, self.fault))

    def await_recovery(self, obs: Observations) -> None:
        deadline = time.time() + self.limits.back_s.value
        while time.time() < deadline:
            if self.health(self.target)[0]:
                obs.mark("db_back")
                break
            time.sleep(0.5)
        # Traffic goes on a little after the node is back: what the clients did when it
        # returned is part of the run.
        time.sleep(3)

    def analyze(self, obs: Observations) -> tuple[list[Check], dict[str, Any]]:
        return analyze(obs, self.target, self.limits)


def node_health(addresses: dict[str, str], password: str) -> Callable[[str], tuple[bool, str]]:
    """host -> (healthy, why not) from the monitor user's view of that node."""

    def health(host: str) -> tuple[bool, str]:
        node = check_node(addresses[host], MONITOR_USER, password, timeout_s=WRITE_TIMEOUT_S * 2)
        if node.healthy:
            return True, ""
        if not node.reachable:
            return False, node.error
        if node.read_only:
            return False, "read-only"
        if node.galera is not None:
            return False, f"Galera {node.galera.cluster_status}/{node.galera.local_state}"
        stopped = [c.source_host for c in node.replication if not c.running]
        return False, "replication from " + ", ".join(stopped) + " not running"

    return health
