"""clusterctl.db.health against a scripted cursor: no MySQL needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql
import pytest

from clusterctl.db.health import DbHealthError, check_cluster, check_node, probe

Result = tuple[list[str], list[tuple[Any, ...]]]


class FakeCursor:
    """Answers each query with the first scripted result whose key the query contains."""

    def __init__(self, script: dict[str, Result]) -> None:
        self.script = script
        self.description: Sequence[Sequence[Any]] | None = None
        self._rows: list[tuple[Any, ...]] = []
        self.queries: list[str] = []

    def execute(self, query: str, args: Any = None) -> int:
        self.queries.append(query)
        for key, (names, rows) in self.script.items():
            if key in query:
                self.description = [(n,) for n in names]
                self._rows = rows
                return len(rows)
        raise pymysql.err.OperationalError(1227, f"Access denied for {query[:20]}")

    def fetchall(self) -> Sequence[Sequence[Any]]:
        return self._rows

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeConnection:
    def __init__(self, cur: FakeCursor) -> None:
        self.cur = cur
        self.closed = False

    def cursor(self) -> FakeCursor:
        return self.cur

    def close(self) -> None:
        self.closed = True


VARS = ["read_only", "gtid_current_pos", "gtid_slave_pos", "wsrep_on"]
SLAVE = [
    "Master_Host",
    "Slave_IO_Running",
    "Slave_SQL_Running",
    "Seconds_Behind_Master",
    "Last_IO_Error",
    "Last_SQL_Error",
]
STATUS = ["Variable_name", "Value"]


def master_master(io: str = "Yes", lag: int | None = 0, read_only: int = 0) -> FakeCursor:
    return FakeCursor(
        {
            "@@read_only": (VARS, [(read_only, "1-1-20,2-2-7", "2-2-7", 0)]),
            "SLAVES STATUS": (
                SLAVE,
                [("10.0.0.2", io, "Yes", lag, "" if io == "Yes" else "error connecting", "")],
            ),
        }
    )


def galera(status: str = "Primary", state: str = "Synced", size: str = "3") -> FakeCursor:
    return FakeCursor(
        {
            "@@read_only": (VARS, [(0, "", "", 1)]),
            "wsrep_cluster_status": (
                STATUS,
                [
                    ("wsrep_cluster_size", size),
                    ("wsrep_cluster_status", status),
                    ("wsrep_local_state_comment", state),
                    ("wsrep_ready", "ON"),
                ],
            ),
        }
    )


def test_master_master_node_reports_replication_and_gtids() -> None:
    health = probe(master_master(lag=4), "10.0.0.1")
    assert health.reachable and health.read_only is False
    assert health.gtid_current_pos == "1-1-20,2-2-7"
    assert health.gtid_slave_pos == "2-2-7"
    assert health.galera is None
    (channel,) = health.replication
    assert channel.source_host == "10.0.0.2" and channel.running and channel.seconds_behind == 4
    assert health.healthy


def test_stopped_io_thread_is_unhealthy_with_unknown_lag() -> None:
    health = probe(master_master(io="Connecting", lag=None), "10.0.0.1")
    assert not health.replication[0].running
    assert health.replication[0].seconds_behind is None
    assert health.replication[0].last_error == "error connecting"
    assert not health.healthy


def test_read_only_node_is_unhealthy() -> None:
    assert not probe(master_master(read_only=1), "10.0.0.1").healthy


def test_galera_node_reports_cluster_view() -> None:
    health = probe(galera(), "10.0.0.1")
    assert health.galera is not None
    assert (
        health.galera.cluster_status,
        health.galera.local_state,
        health.galera.cluster_size,
    ) == ("Primary", "Synced", 3)
    assert health.replication == ()
    assert health.healthy


@pytest.mark.parametrize(("status", "state"), [("non-Primary", "Synced"), ("Primary", "Joining")])
def test_galera_node_outside_a_synced_primary_is_unhealthy(status: str, state: str) -> None:
    assert not probe(galera(status=status, state=state, size="1"), "10.0.0.1").healthy


def test_unreachable_node_is_reported_not_raised() -> None:
    def refuse(**kwargs: Any) -> Any:
        assert kwargs["connect_timeout"] == 0.5 and kwargs["read_timeout"] == 0.5
        raise pymysql.err.OperationalError(2003, "Can't connect to server on '10.0.0.9'\n(111)")

    health = check_node("10.0.0.9", "monitor", "pw", timeout_s=0.5, connect=refuse)
    assert not health.reachable and not health.healthy
    assert health.error == "2003 Can't connect to server on '10.0.0.9' (111)"


def test_missing_privilege_is_reported_and_connection_closed() -> None:
    cur = FakeCursor({"@@read_only": (VARS, [(0, "", "", 0)])})  # SHOW ALL SLAVES STATUS denied
    connection = FakeConnection(cur)
    health = check_node("10.0.0.1", "monitor", "pw", connect=lambda **_: connection)
    assert not health.reachable and health.error.startswith("1227 Access denied")
    assert connection.closed


def test_check_cluster_probes_every_node_in_order() -> None:
    cursors = {"10.0.0.1": galera(), "10.0.0.2": galera(state="Donor/Desynced")}
    result = check_cluster(
        ["10.0.0.1", "10.0.0.2"],
        "monitor",
        "pw",
        connect=lambda **kw: FakeConnection(cursors[kw["host"]]),
    )
    assert [h.address for h in result] == ["10.0.0.1", "10.0.0.2"]
    assert [h.healthy for h in result] == [True, False]


@pytest.mark.parametrize(("address", "timeout"), [("", 1.0), ("10.0.0.1", 0.0)])
def test_bad_arguments_raise_the_one_error_type(address: str, timeout: float) -> None:
    with pytest.raises(DbHealthError):
        check_node(address, "monitor", "pw", timeout_s=timeout)
