"""One way to open a MariaDB connection from clusterctl: short timeouts, nodes tried in order.

Used by the health probes, provisioning and the configuration service. A dead node costs one
connect timeout, never a hang; ``connect_first`` moves on to the next node and raises
``NoDatabase`` naming every node's reason only when none answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql

from clusterctl.errors import ClusterctlError

DEFAULT_PORT = 3306
DEFAULT_TIMEOUT_S = 3.0

Connect = Callable[..., Any]


class NoDatabase(ClusterctlError):
    """No database node accepted a connection (the message lists each node's reason)."""


@dataclass(frozen=True)
class Endpoint:
    """A database node: address and port."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def open_connection(
    endpoint: Endpoint,
    user: str,
    password: str,
    *,
    database: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    autocommit: bool = True,
    connect: Connect = pymysql.connect,
) -> Any:
    """A connection to one node; raises pymysql.MySQLError when it refuses or does not answer."""
    return connect(
        host=endpoint.host,
        port=endpoint.port,
        user=user,
        password=password,
        database=database,
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        write_timeout=timeout_s,
        autocommit=autocommit,
        charset="utf8mb4",
    )


def reason(exc: BaseException) -> str:
    """``(2003, "Can't connect ...")`` -> ``2003 Can't connect ...`` on one line."""
    if len(exc.args) >= 2:
        return f"{exc.args[0]} {exc.args[1]}".replace("\n", " ")
    return str(exc).replace("\n", " ")


def connect_first(
    endpoints: Sequence[Endpoint],
    user: str,
    password: str,
    *,
    database: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    autocommit: bool = True,
    connect: Connect = pymysql.connect,
) -> tuple[Any, Endpoint]:
    """Connect to the first node that answers, in order; raises NoDatabase when none does."""
    failures = []
    for endpoint in endpoints:
        try:
            conn = open_connection(
                endpoint,
                user,
                password,
                database=database,
                timeout_s=timeout_s,
                autocommit=autocommit,
                connect=connect,
            )
        except pymysql.MySQLError as exc:
            failures.append(f"{endpoint}: {reason(exc)}")
            continue
        return conn, endpoint
    raise NoDatabase("no database node answered: " + ("; ".join(failures) or "none configured"))
