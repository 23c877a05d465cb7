"""Per-node health of the MariaDB tier: reachability, read-only, replication or Galera state.

One node is one probe: a connection with short timeouts (a dead node must not stall
``status`` or a drill), a few read-only queries, and a typed result. A node that cannot be
reached or refuses the monitor user is reported as unreachable with the reason; only bad
arguments raise ``DbHealthError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pymysql

from clusterctl.db.connect import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT_S,
    Connect,
    Endpoint,
    open_connection,
    reason,
)
from clusterctl.errors import BadInput

_GALERA_STATUS = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN "
    "('wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_ready')"
)


class DbHealthError(BadInput):
    """A health check was asked for something impossible (no address, bad timeout)."""


class Cursor(Protocol):
    """The DB-API cursor surface the probe uses (PyMySQL's, or a fake in tests)."""

    description: Sequence[Sequence[Any]] | None

    def execute(self, query: str, args: Any = None) -> int: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...


@dataclass(frozen=True)
class Replication:
    """One replication channel as SHOW SLAVE STATUS reports it (master/master)."""

    source_host: str
    io_running: bool
    sql_running: bool
    seconds_behind: int | None  # None while the IO thread is not connected
    last_error: str

    @property
    def running(self) -> bool:
        """Both threads run."""
        return self.io_running and self.sql_running


@dataclass(frozen=True)
class Galera:
    """This node's view of its Galera cluster."""

    cluster_status: str  # Primary | non-Primary | Disconnected
    local_state: str  # Synced | Donor/Desynced | Joining | Joined | ...
    cluster_size: int
    ready: bool

    @property
    def healthy(self) -> bool:
        """In a primary component, Synced, accepting queries."""
        return self.cluster_status == "Primary" and self.local_state == "Synced" and self.ready


@dataclass(frozen=True)
class NodeHealth:
    """What one database node reports; ``error`` says why a node is unreachable."""

    address: str
    reachable: bool
    error: str = ""
    read_only: bool | None = None
    gtid_current_pos: str = ""
    gtid_slave_pos: str = ""
    replication: tuple[Replication, ...] = ()
    galera: Galera | None = None

    @property
    def healthy(self) -> bool:
        """Reachable, writable, and its replication or Galera membership is sound."""
        if not self.reachable or self.read_only:
            return False
        if self.galera is not None:
            return self.galera.healthy
        return all(channel.running for channel in self.replication)


def _rows(cur: Cursor) -> list[dict[str, Any]]:
    names = [str(col[0]) for col in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _yes(value: Any) -> bool:
    return str(value).strip().lower() in {"yes", "on", "1", "true"}


def probe(cur: Cursor, address: str) -> NodeHealth:
    """Query one connected node. Raises pymysql.MySQLError when a query fails."""
    cur.execute(
        "SELECT @@read_only AS read_only, @@gtid_current_pos AS gtid_current_pos,"
        " @@gtid_slave_pos AS gtid_slave_pos, @@wsrep_on AS wsrep_on"
    )
    variables = _rows(cur)[0]
    galera: Galera | None = None
    replication: tuple[Replication, ...] = ()
    if _yes(variables["wsrep_on"]):
        cur.execute(_GALERA_STATUS)
        status = {str(r["Variable_name"]): str(r["Value"]) for r in _rows(cur)}
        galera = Galera(
            cluster_status=status.get("wsrep_cluster_status", "Disconnected"),
            local_state=status.get("wsrep_local_state_comment", ""),
            cluster_size=int(status.get("wsrep_cluster_size", "0") or 0),
            ready=_yes(status.get("wsrep_ready", "OFF")),
        )
    else:
        cur.execute("SHOW ALL SLAVES STATUS")
        replication = tuple(
            Replication(
                source_host=str(r.get("Master_Host", "")),
                io_running=str(r.get("Slave_IO_Running", "")) == "Yes",
                sql_running=str(r.get("Slave_SQL_Running", "")) == "Yes",
                seconds_behind=(
                    None
                    if r.get("Seconds_Behind_Master") is None
                    else int(r["Seconds_Behind_Master"])
                ),
                last_error=str(r.get("Last_IO_Error") or r.get("Last_SQL_Error") or ""),
            )
            for r in _rows(cur)
        )
    return NodeHealth(
        address=address,
        reachable=True,
        read_only=_yes(variables["read_only"]),
        gtid_current_pos=str(variables["gtid_current_pos"] or ""),
        gtid_slave_pos=str(variables["gtid_slave_pos"] or ""),
        replication=replication,
        galera=galera,
    )


def check_node(
    address: str,
    user: str,
    password: str,
    *,
    port: int = DEFAULT_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connect: Connect = pymysql.connect,
) -> NodeHealth:
    """Probe one node; never raises for a dead or refusing node (reachable=False, error).

    Raises DbHealthError for an empty address or a non-positive timeout.
    """
    if not address:
        raise DbHealthError("database health: empty node address")
    if timeout_s <= 0:
        raise DbHealthError(f"database health: timeout must be positive, got {timeout_s}")
    try:
        connection = open_connection(
            Endpoint(address, port), user, password, timeout_s=timeout_s, connect=connect
        )
    except pymysql.MySQLError as exc:
        return NodeHealth(address=address, reachable=False, error=reason(exc))
    try:
        with connection.cursor() as cur:
            return probe(cur, address)
    except pymysql.MySQLError as exc:
        return NodeHealth(address=address, reachable=False, error=reason(exc))
    finally:
        connection.close()


def check_cluster(
    addresses: Iterable[str],
    user: str,
    password: str,
    *,
    port: int = DEFAULT_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connect: Connect = pymysql.connect,
) -> list[NodeHealth]:
    """Probe every node in order (one slow node costs at most ``timeout_s`` per query)."""
    return [
        check_node(a, user, password, port=port, timeout_s=timeout_s, connect=connect)
        for a in addresses
    ]
